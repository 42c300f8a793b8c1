/* ev: see ev.h.
 *
 * The fd table is an array indexed by fd. Each slot carries a generation
 * that changes whenever the fd is forgotten; the generation travels in
 * epoll's data word next to the fd, so an event collected before a callback
 * deleted (and perhaps re-registered) that fd is recognised as stale.
 *
 * Timers are a binary min-heap of pointers to caller-owned timers ordered
 * by (deadline, arming sequence); each timer knows its heap position, so
 * stopping or re-arming one is O(log n) with no search. */
#include "ev.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"

#define DEFAULT_SETSIZE 1024
/* epoll hands back at most this many ready fds per wait; the rest come on
 * the next iteration (level-triggered epoll rotates its ready list, so no
 * fd starves). Bounds the events array however many fds are watched. */
#define MAX_EVENTS_PER_WAIT 4096

struct fd_slot {
	aigw_ev_fd_fn *fn;
	void *arg;
	int mask;     /* AIGW_EV_* bits; AIGW_EV_NONE when not watched */
	uint32_t gen; /* changes each time the fd is forgotten */
};

struct aigw_ev {
	int epoll_fd;
	int wake_fd;

	struct fd_slot *fds;
	size_t fds_cap;
	size_t watched; /* slots with a non-empty mask */

	struct epoll_event *events;
	int events_cap;

	struct aigw_ev_timer **heap;
	size_t heap_len;
	size_t heap_cap;
	uint64_t next_seq;

	uint64_t now_us;

	aigw_ev_hook_fn *before_sleep;
	void *before_sleep_arg;
	aigw_ev_hook_fn *wakeup_fn;
	void *wakeup_arg;

	atomic_bool stop;
	/* Set by the first aigw_ev_wakeup() after the loop last looked, so
	 * later ones skip the write() and the handler runs once for all. */
	atomic_bool wakeup_pending;
};

/* GNU strerror_r: thread-safe, unlike strerror, and workers fail in
 * parallel. */
static const char *errno_text(int e, char *buf, size_t n)
{
	return strerror_r(e, buf, n);
}

/* ------------------------------------------------------------ fd table */

static uint64_t pack_data(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static uint32_t to_epoll(int mask)
{
	uint32_t e = 0;
	if (mask & AIGW_EV_READ)
		e |= EPOLLIN;
	if (mask & AIGW_EV_WRITE)
		e |= EPOLLOUT;
	return e;
}

static void grow_fds(struct aigw_ev *ev, int fd)
{
	size_t want = (size_t)fd + 1, cap = ev->fds_cap;

	if (want <= cap)
		return;
	while (cap < want)
		cap *= 2;
	ev->fds = aigw_realloc(ev->fds, cap * sizeof(*ev->fds));
	memset(ev->fds + ev->fds_cap, 0, (cap - ev->fds_cap) * sizeof(*ev->fds));
	ev->fds_cap = cap;
}

/* More watched fds deserve a larger batch per wait, up to the bound. */
static void grow_events(struct aigw_ev *ev)
{
	int cap = ev->events_cap;

	if (ev->watched <= (size_t)cap || cap >= MAX_EVENTS_PER_WAIT)
		return;
	cap *= 2;
	if (cap > MAX_EVENTS_PER_WAIT)
		cap = MAX_EVENTS_PER_WAIT;
	ev->events = aigw_realloc(ev->events, (size_t)cap * sizeof(*ev->events));
	ev->events_cap = cap;
}

/* Marks a slot unwatched; the new generation makes collected events for
 * the old registration stale. */
static void forget(struct aigw_ev *ev, struct fd_slot *slot)
{
	slot->mask = AIGW_EV_NONE;
	slot->fn = NULL;
	slot->arg = NULL;
	slot->gen++;
	ev->watched--;
}

int aigw_ev_add(struct aigw_ev *ev, int fd, int mask, aigw_ev_fd_fn *fn,
		void *arg, struct aigw_err *err)
{
	struct epoll_event ee;
	struct fd_slot *slot;
	char buf[128];
	int merged;

	if (fd < 0)
		return aigw_err_set(err, AIGW_EINVAL, "cannot watch fd %d: negative fd", fd);
	if (!mask || (mask & ~(AIGW_EV_READ | AIGW_EV_WRITE)))
		return aigw_err_set(err, AIGW_EINVAL, "cannot watch fd %d: bad mask %d",
				    fd, mask);
	if (!fn)
		return aigw_err_set(err, AIGW_EINVAL, "cannot watch fd %d: no callback", fd);

	grow_fds(ev, fd);
	slot = &ev->fds[fd];
	merged = slot->mask | mask;
	memset(&ee, 0, sizeof(ee));
	ee.events = to_epoll(merged);

	if (slot->mask) {
		ee.data.u64 = pack_data(fd, slot->gen);
		if (epoll_ctl(ev->epoll_fd, EPOLL_CTL_MOD, fd, &ee) == 0) {
			slot->mask = merged;
			slot->fn = fn;
			slot->arg = arg;
			return 0;
		}
		if (errno != ENOENT)
			return aigw_err_set(err, AIGW_EFAIL, "cannot watch fd %d: %s", fd,
					    errno_text(errno, buf, sizeof(buf)));
		/* The fd was closed without aigw_ev_del() and the kernel
		 * dropped it; this is a new file under the old number. */
		forget(ev, slot);
	}

	ee.data.u64 = pack_data(fd, slot->gen);
	if (epoll_ctl(ev->epoll_fd, EPOLL_CTL_ADD, fd, &ee) < 0)
		return aigw_err_set(err, AIGW_EFAIL, "cannot watch fd %d: %s", fd,
				    errno_text(errno, buf, sizeof(buf)));
	slot->mask = merged;
	slot->fn = fn;
	slot->arg = arg;
	ev->watched++;
	grow_events(ev);
	return 0;
}

void aigw_ev_del(struct aigw_ev *ev, int fd, int mask)
{
	struct epoll_event ee;
	struct fd_slot *slot;
	int left;

	if (fd < 0 || (size_t)fd >= ev->fds_cap)
		return;
	slot = &ev->fds[fd];
	left = slot->mask & ~mask;
	if (left == slot->mask)
		return;
	memset(&ee, 0, sizeof(ee));
	ee.events = to_epoll(left);
	ee.data.u64 = pack_data(fd, slot->gen);
	/* Failures mean the fd was already closed, which removed it from
	 * the epoll set anyway; the table is what callers see. */
	if (left) {
		(void)epoll_ctl(ev->epoll_fd, EPOLL_CTL_MOD, fd, &ee);
		slot->mask = left;
	} else {
		(void)epoll_ctl(ev->epoll_fd, EPOLL_CTL_DEL, fd, &ee);
		forget(ev, slot);
	}
}

int aigw_ev_set_fn(struct aigw_ev *ev, int fd, aigw_ev_fd_fn *fn, void *arg)
{
	if (fd < 0 || (size_t)fd >= ev->fds_cap || !ev->fds[fd].mask || !fn)
		return AIGW_EINVAL;
	ev->fds[fd].fn = fn;
	ev->fds[fd].arg = arg;
	return 0;
}

int aigw_ev_fd_mask(const struct aigw_ev *ev, int fd)
{
	if (fd < 0 || (size_t)fd >= ev->fds_cap)
		return AIGW_EV_NONE;
	return ev->fds[fd].mask;
}

/* ------------------------------------------------------------ timer heap */

static bool timer_before(const struct aigw_ev_timer *a, const struct aigw_ev_timer *b)
{
	if (a->deadline_us != b->deadline_us)
		return a->deadline_us < b->deadline_us;
	return a->seq < b->seq;
}

static void heap_place(struct aigw_ev *ev, size_t i, struct aigw_ev_timer *t)
{
	ev->heap[i] = t;
	t->heap_pos = i + 1;
}

static void sift_up(struct aigw_ev *ev, size_t i)
{
	struct aigw_ev_timer *t = ev->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, ev->heap[parent]))
			break;
		heap_place(ev, i, ev->heap[parent]);
		i = parent;
	}
	heap_place(ev, i, t);
}

static void sift_down(struct aigw_ev *ev, size_t i)
{
	struct aigw_ev_timer *t = ev->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= ev->heap_len)
			break;
		if (child + 1 < ev->heap_len && timer_before(ev->heap[child + 1], ev->heap[child]))
			child++;
		if (!timer_before(ev->heap[child], t))
			break;
		heap_place(ev, i, ev->heap[child]);
		i = child;
	}
	heap_place(ev, i, t);
}

/* Restores order around position i after its timer changed either way. */
static void heap_fix(struct aigw_ev *ev, size_t i)
{
	sift_up(ev, i);
	if (ev->heap[i]->heap_pos == i + 1)
		sift_down(ev, i);
}

void aigw_ev_timer_init(struct aigw_ev_timer *timer, aigw_ev_timer_fn *fn, void *arg)
{
	timer->fn = fn;
	timer->arg = arg;
	timer->deadline_us = 0;
	timer->seq = 0;
	timer->heap_pos = 0;
}

void aigw_ev_timer_start(struct aigw_ev *ev, struct aigw_ev_timer *timer, uint64_t after_us)
{
	uint64_t now = aigw_clock_mono_us();

	timer->deadline_us = after_us > UINT64_MAX - now ? UINT64_MAX : now + after_us;
	timer->seq = ev->next_seq++;
	if (timer->heap_pos) {
		heap_fix(ev, timer->heap_pos - 1);
		return;
	}
	if (ev->heap_len == ev->heap_cap) {
		ev->heap_cap = ev->heap_cap ? ev->heap_cap * 2 : 64;
		ev->heap = aigw_realloc(ev->heap, ev->heap_cap * sizeof(*ev->heap));
	}
	ev->heap_len++;
	heap_place(ev, ev->heap_len - 1, timer);
	sift_up(ev, ev->heap_len - 1);
}

void aigw_ev_timer_stop(struct aigw_ev *ev, struct aigw_ev_timer *timer)
{
	struct aigw_ev_timer *last;
	size_t i;

	if (!timer->heap_pos)
		return;
	i = timer->heap_pos - 1;
	timer->heap_pos = 0;
	last = ev->heap[--ev->heap_len];
	if (i < ev->heap_len) {
		heap_place(ev, i, last);
		heap_fix(ev, i);
	}
}

bool aigw_ev_timer_armed(const struct aigw_ev_timer *timer)
{
	return timer->heap_pos != 0;
}

/* Runs the timers due at the time read after the wait. Timers armed by
 * these callbacks wait for the next iteration, even when due at once, so a
 * callback re-arming itself with 0 cannot keep the loop here forever.
 * Their deadlines are never earlier than the time used here and their
 * sequence numbers are higher, so in heap order they all come after the
 * timers that were due: stopping at the first of them skips nothing. */
static int run_timers(struct aigw_ev *ev)
{
	uint64_t now = ev->now_us, seq_limit = ev->next_seq;
	int ran = 0;

	while (ev->heap_len) {
		struct aigw_ev_timer *t = ev->heap[0];
		if (t->deadline_us > now || t->seq >= seq_limit)
			break;
		aigw_ev_timer_stop(ev, t);
		ran++;
		if (t->fn)
			t->fn(ev, t, t->arg);
	}
	return ran;
}

/* ------------------------------------------------------------ time */

uint64_t aigw_ev_now_us(const struct aigw_ev *ev)
{
	return ev->now_us;
}

uint64_t aigw_ev_update_time(struct aigw_ev *ev)
{
	ev->now_us = aigw_clock_mono_us();
	return ev->now_us;
}

/* ------------------------------------------------------------ wakeup */

/* Makes the eventfd readable. errno is preserved for signal handlers. */
static void poke(struct aigw_ev *ev)
{
	uint64_t one = 1;
	int saved = errno;
	ssize_t n;

	do
		n = write(ev->wake_fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	/* EAGAIN means the counter is near overflow: still readable. */
	errno = saved;
}

void aigw_ev_wakeup(struct aigw_ev *ev)
{
	if (!atomic_exchange(&ev->wakeup_pending, true))
		poke(ev);
}

/* Reads the eventfd before clearing the pending flag: a wakeup that comes
 * between the two finds the flag still set and skips its write, but its
 * work is done by the handler called just below. */
static void on_wake_fd(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	uint64_t count;
	ssize_t n;

	(void)mask;
	(void)arg;
	do
		n = read(fd, &count, sizeof(count));
	while (n < 0 && errno == EINTR);
	if (atomic_exchange(&ev->wakeup_pending, false) && ev->wakeup_fn)
		ev->wakeup_fn(ev, ev->wakeup_arg);
}

void aigw_ev_set_wakeup_handler(struct aigw_ev *ev, aigw_ev_hook_fn *fn, void *arg)
{
	ev->wakeup_fn = fn;
	ev->wakeup_arg = arg;
}

/* ------------------------------------------------------------ the loop */

struct aigw_ev *aigw_ev_new(int setsize_hint, struct aigw_err *err)
{
	struct aigw_ev *ev;
	char buf[128];
	int epoll_fd, wake_fd;

	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0) {
		aigw_err_set(err, AIGW_EFAIL, "cannot create epoll instance: %s",
			     errno_text(errno, buf, sizeof(buf)));
		return NULL;
	}
	wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wake_fd < 0) {
		aigw_err_set(err, AIGW_EFAIL, "cannot create eventfd: %s",
			     errno_text(errno, buf, sizeof(buf)));
		close(epoll_fd);
		return NULL;
	}

	ev = aigw_calloc(1, sizeof(*ev));
	ev->epoll_fd = epoll_fd;
	ev->wake_fd = wake_fd;
	ev->fds_cap = setsize_hint > 0 ? (size_t)setsize_hint : DEFAULT_SETSIZE;
	ev->fds = aigw_calloc(ev->fds_cap, sizeof(*ev->fds));
	ev->events_cap = 64;
	ev->events = aigw_calloc((size_t)ev->events_cap, sizeof(*ev->events));
	atomic_init(&ev->stop, false);
	atomic_init(&ev->wakeup_pending, false);
	ev->now_us = aigw_clock_mono_us();

	if (aigw_ev_add(ev, wake_fd, AIGW_EV_READ, on_wake_fd, NULL, err) < 0) {
		aigw_ev_free(ev);
		return NULL;
	}
	return ev;
}

void aigw_ev_free(struct aigw_ev *ev)
{
	size_t i;

	if (!ev)
		return;
	for (i = 0; i < ev->heap_len; i++)
		ev->heap[i]->heap_pos = 0;
	close(ev->wake_fd);
	close(ev->epoll_fd);
	free(ev->heap);
	free(ev->events);
	free(ev->fds);
	free(ev);
}

void aigw_ev_set_before_sleep(struct aigw_ev *ev, aigw_ev_hook_fn *fn, void *arg)
{
	ev->before_sleep = fn;
	ev->before_sleep_arg = arg;
}

void aigw_ev_stop(struct aigw_ev *ev)
{
	atomic_store(&ev->stop, true);
	poke(ev);
}

/* The epoll_wait timeout in milliseconds: the caller's bound or the
 * nearest timer, whichever is sooner, rounded up so a timer is never found
 * not yet due when the wait ends; -1 waits without bound. */
static int wait_ms(struct aigw_ev *ev, int64_t timeout_us)
{
	uint64_t wait_us, ms;
	bool bounded = timeout_us >= 0;

	if (atomic_load_explicit(&ev->stop, memory_order_relaxed))
		return 0;
	wait_us = bounded ? (uint64_t)timeout_us : 0;
	if (ev->heap_len) {
		uint64_t now = aigw_clock_mono_us(), deadline = ev->heap[0]->deadline_us;
		uint64_t until = deadline > now ? deadline - now : 0;
		if (!bounded || until < wait_us)
			wait_us = until;
		bounded = true;
	}
	if (!bounded)
		return -1;
	ms = wait_us / 1000 + (wait_us % 1000 != 0);
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Calls the callbacks of the ready fds, skipping events whose fd was
 * deleted (or deleted and added again) by an earlier callback. The event
 * and the slot are looked up afresh each time: a callback may have grown
 * (moved) the events array or the table. */
static int dispatch(struct aigw_ev *ev, int n)
{
	int i, ran = 0;

	for (i = 0; i < n; i++) {
		uint64_t data = ev->events[i].data.u64;
		uint32_t e = ev->events[i].events;
		int fd = (int)(uint32_t)data, ready = 0;
		struct fd_slot *slot;

		if ((size_t)fd >= ev->fds_cap)
			continue;
		slot = &ev->fds[fd];
		if (slot->gen != (uint32_t)(data >> 32))
			continue;
		if (e & EPOLLIN)
			ready |= AIGW_EV_READ;
		if (e & EPOLLOUT)
			ready |= AIGW_EV_WRITE;
		if (e & (EPOLLERR | EPOLLHUP))
			ready |= AIGW_EV_READ | AIGW_EV_WRITE;
		ready &= slot->mask;
		if (!ready)
			continue;
		ran++;
		slot->fn(ev, fd, ready, slot->arg);
	}
	return ran;
}

int aigw_ev_run_once(struct aigw_ev *ev, int64_t timeout_us, struct aigw_err *err)
{
	char buf[128];
	int n, ran;

	if (ev->before_sleep)
		ev->before_sleep(ev, ev->before_sleep_arg);
	n = epoll_wait(ev->epoll_fd, ev->events, ev->events_cap, wait_ms(ev, timeout_us));
	if (n < 0) {
		if (errno != EINTR)
			return aigw_err_set(err, AIGW_EFAIL, "epoll_wait: %s",
					    errno_text(errno, buf, sizeof(buf)));
		n = 0;
	}
	aigw_ev_update_time(ev);
	ran = dispatch(ev, n);
	return ran + run_timers(ev);
}

int aigw_ev_run(struct aigw_ev *ev, struct aigw_err *err)
{
	for (;;) {
		int r;
		if (atomic_load_explicit(&ev->stop, memory_order_relaxed) &&
		    atomic_exchange(&ev->stop, false))
			return 0;
		r = aigw_ev_run_once(ev, -1, err);
		if (r < 0)
			return r;
	}
}

/* ------------------------------------------------------------ sockets */

int aigw_ev_set_nonblock(int fd, struct aigw_err *err)
{
	char buf[128];
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0))
		return aigw_err_set(err, AIGW_EFAIL, "cannot make fd %d non-blocking: %s", fd,
				    errno_text(errno, buf, sizeof(buf)));
	return 0;
}

/* Splits "host:port", "[v6]:port" or ":port" into host ("" for every
 * interface) and a numeric port. */
static int split_host_port(const char *host_port, char *host, size_t host_size,
			   char *port, size_t port_size, struct aigw_err *err)
{
	const char *host_start, *host_end, *port_start, *p;
	size_t host_len, port_len;
	unsigned long value = 0;

	if (!*host_port)
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid listen address '': expected host:port");
	if (host_port[0] == '[') {
		host_start = host_port + 1;
		host_end = strchr(host_start, ']');
		if (!host_end)
			return aigw_err_set(err, AIGW_EINVAL,
					    "invalid listen address '%s': missing ']'", host_port);
		if (host_end == host_start)
			return aigw_err_set(err, AIGW_EINVAL,
					    "invalid listen address '%s': empty address in brackets",
					    host_port);
		if (host_end[1] != ':')
			return aigw_err_set(err, AIGW_EINVAL,
					    "invalid listen address '%s': missing port (expected [address]:port)",
					    host_port);
		port_start = host_end + 2;
	} else {
		host_start = host_port;
		host_end = strrchr(host_port, ':');
		if (!host_end)
			return aigw_err_set(err, AIGW_EINVAL,
					    "invalid listen address '%s': missing port (expected host:port)",
					    host_port);
		if (memchr(host_start, ':', (size_t)(host_end - host_start)))
			return aigw_err_set(err, AIGW_EINVAL,
					    "invalid listen address '%s': put an IPv6 address in brackets, as in [::1]:8080",
					    host_port);
		port_start = host_end + 1;
	}

	port_len = strlen(port_start);
	for (p = port_start; *p; p++) {
		if (*p < '0' || *p > '9' || port_len > 5)
			break;
		value = value * 10 + (unsigned long)(*p - '0');
	}
	if (!port_len || *p || value > 65535)
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid listen address '%s': bad port '%s' (expected 0 to 65535)",
				    host_port, port_start);
	host_len = (size_t)(host_end - host_start);
	if (host_len >= host_size || port_len >= port_size)
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid listen address '%s': host name too long", host_port);
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';
	memcpy(port, port_start, port_len);
	port[port_len] = '\0';
	return 0;
}

/* Returns a listening socket for ai, or -errno. */
static int bind_one(const struct addrinfo *ai, bool wildcard, bool reuseport, int backlog)
{
	int one = 1, fd, e;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (ai->ai_family == AF_INET6) {
		/* The wildcard takes IPv4 too; a named address only itself. */
		int v6only = !wildcard;
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	return -e;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	errno = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

int aigw_ev_listen_tcp(const char *host_port, bool reuseport, int backlog,
		       int *fd_out, int *port_out, struct aigw_err *err)
{
	struct addrinfo hints, *res, *ai;
	char host[NI_MAXHOST], port[8], buf[128];
	bool wildcard;
	int rc, fd = -1, first_error = EAFNOSUPPORT, pass, tried = 0;

	rc = split_host_port(host_port, host, sizeof(host), port, sizeof(port), err);
	if (rc < 0)
		return rc;
	wildcard = !host[0] || !strcmp(host, "*");

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(wildcard ? NULL : host, port, &hints, &res);
	if (rc != 0)
		return aigw_err_set(err, AIGW_EFAIL, "cannot listen on %s: %s", host_port,
				    rc == EAI_SYSTEM ? errno_text(errno, buf, sizeof(buf))
						     : gai_strerror(rc));

	/* For the wildcard, a dual-stack IPv6 socket first (it serves both
	 * families); then every address in resolver order. */
	if (backlog <= 0)
		backlog = SOMAXCONN;
	for (pass = wildcard ? 0 : 1; pass < 2 && fd < 0; pass++) {
		for (ai = res; ai && fd < 0; ai = ai->ai_next) {
			if (pass == 0 && ai->ai_family != AF_INET6)
				continue;
			if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
				continue;
			fd = bind_one(ai, wildcard, reuseport, backlog);
			/* Report the first failure: later addresses tend to
			 * fail for duller reasons (family not supported). */
			if (fd < 0 && !tried++)
				first_error = -fd;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return aigw_err_set(err, AIGW_EFAIL, "cannot listen on %s: %s", host_port,
				    errno_text(first_error, buf, sizeof(buf)));

	if (port_out) {
		*port_out = bound_port(fd);
		if (*port_out < 0) {
			rc = errno ? errno : EAFNOSUPPORT;
			close(fd);
			return aigw_err_set(err, AIGW_EFAIL, "cannot listen on %s: %s", host_port,
					    errno_text(rc, buf, sizeof(buf)));
		}
	}
	*fd_out = fd;
	return 0;
}
