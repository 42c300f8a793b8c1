/* ev: a small epoll reactor, one per worker thread, in the manner of
 * redis' ae.
 *
 * A loop watches file descriptors (level-triggered: a callback is called
 * again on the next iteration for as long as the fd stays ready, so a
 * callback may stop reading when an output buffer is full and simply
 * remove AIGW_EV_READ; nothing is lost) and runs timers kept in a binary
 * min-heap. Steady-state operation does not allocate: the fd table and the
 * timer heap only grow.
 *
 * Everything is confined to the thread that runs the loop, except
 * aigw_ev_wakeup() and aigw_ev_stop(), which any thread may call.
 *
 * Callbacks may add and delete any fd (including their own, and closing
 * it) and start and stop any timer. An event already collected for an fd
 * that a callback deleted earlier in the same iteration is dropped, even
 * if the same fd number was registered again meanwhile. */
#ifndef AIGW_EV_H
#define AIGW_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define AIGW_EV_NONE 0
#define AIGW_EV_READ 1
#define AIGW_EV_WRITE 2

struct aigw_ev;
struct aigw_ev_timer;

/* Called on the loop thread when fd is ready. mask is the subset of the
 * registered mask that is ready; an error or hang-up on the fd is reported
 * as readiness of every registered direction, so that the next read() or
 * write() returns the error. */
typedef void aigw_ev_fd_fn(struct aigw_ev *ev, int fd, int mask, void *arg);

/* Called on the loop thread when timer expires. The timer is no longer
 * armed when this runs: the callback may start it again, or free the
 * memory that contains it. */
typedef void aigw_ev_timer_fn(struct aigw_ev *ev, struct aigw_ev_timer *timer,
			      void *arg);

/* The before-sleep hook and the wakeup handler. */
typedef void aigw_ev_hook_fn(struct aigw_ev *ev, void *arg);

/* A timer lives in memory owned by the caller, usually embedded in the
 * object it times out (a connection, a request). The fields are private.
 * A zero-filled timer is valid and not armed; aigw_ev_timer_init() gives
 * it a callback. The memory must stay valid while the timer is armed, and
 * a timer is armed on one loop at a time. */
struct aigw_ev_timer {
	aigw_ev_timer_fn *fn;
	void *arg;
	uint64_t deadline_us; /* monotonic microseconds */
	uint64_t seq;         /* arming order, breaks deadline ties */
	size_t heap_pos;      /* index in the heap + 1; 0 when not armed */
};

/* ------------------------------------------------------------ the loop */

/* Creates a loop. setsize_hint is the number of fds expected (the table
 * grows beyond it as needed; <= 0 picks a default). Returns NULL and fills
 * err when the kernel refuses an epoll instance or an eventfd. The caller
 * frees the loop with aigw_ev_free(). */
struct aigw_ev *aigw_ev_new(int setsize_hint, struct aigw_err *err);

/* Frees the loop, its epoll fd and its eventfd. The fds that were
 * registered are not closed (they belong to the caller); timers still armed
 * become unarmed. NULL is a no-op. Must not be called from a callback. */
void aigw_ev_free(struct aigw_ev *ev);

/* Runs iterations until aigw_ev_stop() is called. A stop requested while
 * the loop was not running makes this return at once; each stop ends one
 * run. Returns 0, or AIGW_EFAIL (and fills err) if epoll_wait fails. */
int aigw_ev_run(struct aigw_ev *ev, struct aigw_err *err);

/* Runs one iteration: the before-sleep hook, one wait of at most
 * timeout_us microseconds (< 0: until an fd or a timer is ready; 0: do not
 * block; rounded up to milliseconds) or less when a timer is due sooner,
 * then the ready fd callbacks, then the expired timers. Returns how many
 * fd events and timers were handled (>= 0), or AIGW_EFAIL (and fills err)
 * if epoll_wait fails. For tests and for embedding in another loop; like
 * aigw_ev_run(), not to be called from a callback of the same loop. */
int aigw_ev_run_once(struct aigw_ev *ev, int64_t timeout_us,
		     struct aigw_err *err);

/* Asks aigw_ev_run() to return after the current iteration. Safe from any
 * thread, from callbacks and from signal handlers; a sleeping loop is
 * woken. */
void aigw_ev_stop(struct aigw_ev *ev);

/* Sets fn(ev, arg) to be called before every wait (to flush batched
 * writes, to drive libcurl). NULL removes the hook. */
void aigw_ev_set_before_sleep(struct aigw_ev *ev, aigw_ev_hook_fn *fn,
			      void *arg);

/* ------------------------------------------------------------ fd events */

/* Watches fd for mask (AIGW_EV_READ, AIGW_EV_WRITE or both), calling
 * fn(ev, fd, ready_mask, arg). If fd is already watched the masks merge,
 * and fn and arg replace the previous ones: an fd has one callback. fd
 * stays owned by the caller, who should aigw_ev_del() it before closing
 * it. Returns 0, AIGW_EINVAL for a negative fd or an empty or unknown
 * mask, or AIGW_EFAIL when epoll_ctl refuses (a bad fd, a regular file);
 * err says which. */
int aigw_ev_add(struct aigw_ev *ev, int fd, int mask, aigw_ev_fd_fn *fn,
		void *arg, struct aigw_err *err);

/* Stops watching fd for the bits in mask; when no bit is left the fd is
 * forgotten, and events already collected for it in this iteration are
 * dropped. Deleting what is not watched is a no-op. */
void aigw_ev_del(struct aigw_ev *ev, int fd, int mask);

/* Hands a watched fd to another callback without a system call: the mask
 * stays as it is. For an fd that changes owners often (a pooled upstream
 * connection going from idle to busy and back), where aigw_ev_add() would
 * re-register it with the kernel each time. Returns 0, or AIGW_EINVAL when
 * fd is not watched or fn is NULL. */
int aigw_ev_set_fn(struct aigw_ev *ev, int fd, aigw_ev_fd_fn *fn, void *arg);

/* The mask fd is watched for, AIGW_EV_NONE when it is not. */
int aigw_ev_fd_mask(const struct aigw_ev *ev, int fd);

/* ------------------------------------------------------------ timers */

/* Prepares a timer that is not armed (or was never used): on expiry
 * fn(ev, timer, arg) is called. Does not allocate. */
void aigw_ev_timer_init(struct aigw_ev_timer *timer, aigw_ev_timer_fn *fn,
			void *arg);

/* Arms timer to expire after_us microseconds from now (measured on the
 * monotonic clock at this call, so it never fires early), re-arming it if
 * it was armed. Timers due at the same microsecond fire in the order they
 * were armed. O(log n); allocates only when the heap grows. */
void aigw_ev_timer_start(struct aigw_ev *ev, struct aigw_ev_timer *timer,
			 uint64_t after_us);

/* Disarms timer; a no-op when it is not armed. O(log n). */
void aigw_ev_timer_stop(struct aigw_ev *ev, struct aigw_ev_timer *timer);

/* Whether timer is armed (started and neither expired nor stopped). */
bool aigw_ev_timer_armed(const struct aigw_ev_timer *timer);

/* ------------------------------------------------------------ time */

/* Monotonic microseconds, read once per iteration (after the wait), so
 * that per-request timestamps cost nothing. */
uint64_t aigw_ev_now_us(const struct aigw_ev *ev);

/* Reads the clock again, for a callback that has run long; returns the
 * new time. */
uint64_t aigw_ev_update_time(struct aigw_ev *ev);

/* ------------------------------------------------------------ wakeup */

/* Wakes the loop from any thread (an eventfd). Wakeups that arrive before
 * the loop gets to them coalesce into one call of the wakeup handler, so a
 * handler drains whatever queue it serves. Async-signal-safe. */
void aigw_ev_wakeup(struct aigw_ev *ev);

/* Sets fn(ev, arg), run on the loop thread after aigw_ev_wakeup(). NULL
 * removes it (wakeups then only interrupt the wait). */
void aigw_ev_set_wakeup_handler(struct aigw_ev *ev, aigw_ev_hook_fn *fn,
				void *arg);

/* ------------------------------------------------------------ sockets */

/* Makes fd non-blocking. Returns 0, or AIGW_EFAIL (fcntl failed) and fills
 * err. */
int aigw_ev_set_nonblock(int fd, struct aigw_err *err);

/* Opens a listening TCP socket on host_port: "127.0.0.1:8080",
 * "[::1]:0", "localhost:0", ":8080" or "*:8080" (every interface, IPv6
 * and IPv4 when the system allows). The first address the name resolves to that
 * can be bound is used. The socket is non-blocking, close-on-exec, has
 * SO_REUSEADDR, and SO_REUSEPORT when reuseport is true (one listener per
 * worker). backlog <= 0 means SOMAXCONN. On success stores the fd (owned
 * by the caller) in *fd_out and the bound port (useful with port 0) in
 * *port_out when port_out is not NULL, and returns 0. Returns AIGW_EINVAL
 * for a malformed host_port, AIGW_EFAIL when it cannot be resolved or
 * bound; err reads like "cannot listen on 127.0.0.1:80: Permission
 * denied". */
int aigw_ev_listen_tcp(const char *host_port, bool reuseport, int backlog,
		       int *fd_out, int *port_out, struct aigw_err *err);

#endif
