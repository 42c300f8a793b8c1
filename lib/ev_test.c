/* ev_test: the reactor — fd readiness through pipes and sockets, deletion
 * during dispatch, timer order and precision, the heap against a simple
 * model, cross-thread wakeup and stop, and the listening helper. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ev.h"
#include "rand.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static struct aigw_ev *new_loop(int setsize_hint)
{
	struct aigw_err err = { 0 };
	struct aigw_ev *ev = aigw_ev_new(setsize_hint, &err);

	if (!ev)
		fail_msg("aigw_ev_new: %s", err.msg);
	return ev;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void write_byte(int fd)
{
	assert_int_equal(write(fd, "x", 1), 1);
}

/* ------------------------------------------------------------ fd events */

struct fired {
	int calls;
	int last_fd;
	int last_mask;
};

static void record_fd(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct fired *f = arg;
	(void)ev;
	f->calls++;
	f->last_fd = fd;
	f->last_mask = mask;
}

static void test_pipe_readiness(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct fired r = { 0 }, w = { 0 };
	int p[2];
	char c;
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(aigw_ev_add(ev, p[0], AIGW_EV_READ, record_fd, &r, NULL), 0);
	assert_int_equal(aigw_ev_fd_mask(ev, p[0]), AIGW_EV_READ);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 0);
	assert_int_equal(r.calls, 0);

	write_byte(p[1]);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_fd, p[0]);
	assert_int_equal(r.last_mask, AIGW_EV_READ);
	/* Level-triggered: still ready while the byte is unread. */
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(r.calls, 2);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 0);
	assert_int_equal(r.calls, 2);

	assert_int_equal(aigw_ev_add(ev, p[1], AIGW_EV_WRITE, record_fd, &w, NULL), 0);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.last_mask, AIGW_EV_WRITE);

	/* Deleting a bit that is not set changes nothing; the last bit
	 * forgets the fd. */
	aigw_ev_del(ev, p[1], AIGW_EV_READ);
	assert_int_equal(aigw_ev_fd_mask(ev, p[1]), AIGW_EV_WRITE);
	aigw_ev_del(ev, p[1], AIGW_EV_WRITE);
	assert_int_equal(aigw_ev_fd_mask(ev, p[1]), AIGW_EV_NONE);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 0);
	assert_int_equal(w.calls, 1);

	/* Hang-up: the reader sees readiness (read() then returns 0). */
	close(p[1]);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(r.last_mask, AIGW_EV_READ);
	assert_int_equal(read(p[0], &c, 1), 0);

	aigw_ev_del(ev, p[0], AIGW_EV_READ | AIGW_EV_WRITE);
	close(p[0]);
	aigw_ev_free(ev);
}

static void test_mask_merge_and_callback_replace(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct fired a = { 0 }, b = { 0 };
	int sv[2];
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(aigw_ev_add(ev, sv[0], AIGW_EV_READ, record_fd, &a, NULL), 0);
	assert_int_equal(aigw_ev_add(ev, sv[0], AIGW_EV_WRITE, record_fd, &b, NULL), 0);
	assert_int_equal(aigw_ev_fd_mask(ev, sv[0]), AIGW_EV_READ | AIGW_EV_WRITE);
	write_byte(sv[1]);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.last_mask, AIGW_EV_READ | AIGW_EV_WRITE);
	aigw_ev_del(ev, sv[0], AIGW_EV_WRITE);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(b.last_mask, AIGW_EV_READ);

	aigw_ev_del(ev, sv[0], AIGW_EV_READ);
	close(sv[0]);
	close(sv[1]);
	aigw_ev_free(ev);
}

static void test_add_errors(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct aigw_err err = { 0 };
	struct fired f = { 0 };
	int p[2], file_fd;
	char path[] = "/tmp/ev_test_XXXXXX";
	(void)state;

	assert_int_equal(aigw_ev_add(ev, -1, AIGW_EV_READ, record_fd, &f, &err), AIGW_EINVAL);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(aigw_ev_add(ev, p[0], 0, record_fd, &f, &err), AIGW_EINVAL);
	assert_int_equal(aigw_ev_add(ev, p[0], 4, record_fd, &f, &err), AIGW_EINVAL);
	assert_int_equal(aigw_ev_add(ev, p[0], AIGW_EV_READ, NULL, &f, &err), AIGW_EINVAL);

	/* A closed fd: the kernel's reason, with the fd named. */
	close(p[1]);
	assert_int_equal(aigw_ev_add(ev, p[1], AIGW_EV_WRITE, record_fd, &f, &err), AIGW_EFAIL);
	assert_non_null(strstr(err.msg, "Bad file descriptor"));
	assert_int_equal(aigw_ev_fd_mask(ev, p[1]), AIGW_EV_NONE);

	/* Regular files cannot be polled. */
	file_fd = mkstemp(path);
	assert_true(file_fd >= 0);
	unlink(path);
	assert_int_equal(aigw_ev_add(ev, file_fd, AIGW_EV_READ, record_fd, &f, &err), AIGW_EFAIL);
	assert_non_null(strstr(err.msg, "cannot watch fd"));
	close(file_fd);

	close(p[0]);
	aigw_ev_free(ev);
}

/* Both pipes are readable in the same iteration; whichever callback runs
 * first deletes and closes the other, which must then not be called. */
struct pair {
	int fds[2];
	int calls[2];
};

static void delete_other(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct pair *p = arg;
	int me = fd == p->fds[0] ? 0 : 1;
	(void)mask;

	p->calls[me]++;
	if (p->fds[!me] >= 0) {
		aigw_ev_del(ev, p->fds[!me], AIGW_EV_READ);
		close(p->fds[!me]);
		p->fds[!me] = -1;
	}
}

static void test_delete_other_in_callback(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct pair p;
	int a[2], b[2], i;
	(void)state;

	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	p.fds[0] = a[0];
	p.fds[1] = b[0];
	p.calls[0] = p.calls[1] = 0;
	assert_int_equal(aigw_ev_add(ev, a[0], AIGW_EV_READ, delete_other, &p, NULL), 0);
	assert_int_equal(aigw_ev_add(ev, b[0], AIGW_EV_READ, delete_other, &p, NULL), 0);
	write_byte(a[1]);
	write_byte(b[1]);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(p.calls[0] + p.calls[1], 1);

	for (i = 0; i < 2; i++)
		if (p.fds[i] >= 0) {
			aigw_ev_del(ev, p.fds[i], AIGW_EV_READ);
			close(p.fds[i]);
		}
	close(a[1]);
	close(b[1]);
	aigw_ev_free(ev);
}

/* Harder: the victim's fd number is reused at once for a new, idle pipe
 * registered with another callback. The event collected for the old file
 * must not reach the new registration. */
struct reuse {
	int fds[2];
	int writers[2];
	int spare_write;
	int calls;
	struct fired newcomer;
};

static void delete_and_reuse(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct reuse *r = arg;
	int me = fd == r->fds[0] ? 0 : 1, victim = r->fds[!me], fresh[2];
	(void)mask;

	r->calls++;
	if (r->spare_write >= 0)
		return;
	aigw_ev_del(ev, victim, AIGW_EV_READ);
	close(victim);
	assert_int_equal(pipe(fresh), 0);
	if (fresh[0] != victim) {
		assert_int_equal(dup2(fresh[0], victim), victim);
		close(fresh[0]);
	}
	r->spare_write = fresh[1];
	assert_int_equal(aigw_ev_add(ev, victim, AIGW_EV_READ, record_fd, &r->newcomer, NULL), 0);
}

static void test_delete_and_reuse_fd_in_callback(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct reuse r;
	int a[2], b[2];
	(void)state;

	memset(&r, 0, sizeof(r));
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	r.fds[0] = a[0];
	r.fds[1] = b[0];
	r.spare_write = -1;
	assert_int_equal(aigw_ev_add(ev, a[0], AIGW_EV_READ, delete_and_reuse, &r, NULL), 0);
	assert_int_equal(aigw_ev_add(ev, b[0], AIGW_EV_READ, delete_and_reuse, &r, NULL), 0);
	write_byte(a[1]);
	write_byte(b[1]);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.newcomer.calls, 0);

	/* The new registration works normally afterwards. */
	write_byte(r.spare_write);
	aigw_ev_run_once(ev, 0, NULL);
	assert_int_equal(r.newcomer.calls, 1);

	aigw_ev_del(ev, a[0], AIGW_EV_READ);
	aigw_ev_del(ev, b[0], AIGW_EV_READ);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	close(r.spare_write);
	aigw_ev_free(ev);
}

static void close_self(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	int *calls = arg;
	(void)mask;
	(*calls)++;
	aigw_ev_del(ev, fd, AIGW_EV_READ);
	close(fd);
}

/* A callback deleting and closing its own fd; and an fd closed without
 * aigw_ev_del whose number comes back as a new file. */
static void test_close_self_and_closed_without_del(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct fired f = { 0 };
	int p[2], q[2], calls = 0;
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(aigw_ev_add(ev, p[0], AIGW_EV_READ, close_self, &calls, NULL), 0);
	write_byte(p[1]);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 0);
	assert_int_equal(calls, 1);
	close(p[1]);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(aigw_ev_add(ev, p[0], AIGW_EV_READ, record_fd, &f, NULL), 0);
	close(p[0]); /* forgot aigw_ev_del */
	/* A new pipe whose read end takes the old number. */
	assert_int_equal(pipe(q), 0);
	if (q[0] != p[0]) {
		assert_int_equal(dup2(q[0], p[0]), p[0]);
		close(q[0]);
	}
	assert_int_equal(aigw_ev_add(ev, p[0], AIGW_EV_READ, record_fd, &f, NULL), 0);
	write_byte(q[1]);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(f.last_fd, p[0]);

	aigw_ev_del(ev, p[0], AIGW_EV_READ);
	close(p[0]);
	close(p[1]);
	close(q[1]);
	aigw_ev_free(ev);
}

/* set_fn swaps the callback of a watched fd, keeps its mask, and refuses
 * an fd that is not watched. */
static void test_set_fn(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct fired f1 = { 0 }, f2 = { 0 };
	int p[2];
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(aigw_ev_set_fn(ev, p[0], record_fd, &f1), AIGW_EINVAL);
	assert_int_equal(aigw_ev_add(ev, p[0], AIGW_EV_READ, record_fd, &f1, NULL), 0);
	assert_int_equal(aigw_ev_set_fn(ev, p[0], NULL, NULL), AIGW_EINVAL);
	assert_int_equal(aigw_ev_set_fn(ev, p[0], record_fd, &f2), 0);
	assert_int_equal(aigw_ev_fd_mask(ev, p[0]), AIGW_EV_READ);
	write_byte(p[1]);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
	assert_int_equal(f1.calls, 0);
	assert_int_equal(f2.calls, 1);
	assert_int_equal(f2.last_mask, AIGW_EV_READ);
	aigw_ev_del(ev, p[0], AIGW_EV_READ);
	assert_int_equal(aigw_ev_set_fn(ev, p[0], record_fd, &f1), AIGW_EINVAL);
	close(p[0]);
	close(p[1]);
	aigw_ev_free(ev);
}

static void drain_and_del(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	int *calls = arg;
	char c;
	(void)mask;
	assert_int_equal(read(fd, &c, 1), 1);
	(*calls)++;
	aigw_ev_del(ev, fd, AIGW_EV_READ);
}

/* A tiny initial table, a hundred pipes, and one fd far above all. */
static void test_fd_table_growth(void **state)
{
	struct aigw_ev *ev = new_loop(4);
	int pipes[100][2], high = 3000, high_pipe[2], calls = 0, i, rounds = 0;
	(void)state;

	for (i = 0; i < (int)N_ELEMS(pipes); i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		assert_int_equal(aigw_ev_add(ev, pipes[i][0], AIGW_EV_READ, drain_and_del, &calls,
					     NULL), 0);
		write_byte(pipes[i][1]);
	}
	assert_int_equal(pipe(high_pipe), 0);
	assert_int_equal(dup2(high_pipe[0], high), high);
	assert_int_equal(aigw_ev_add(ev, high, AIGW_EV_READ, drain_and_del, &calls, NULL), 0);
	assert_int_equal(aigw_ev_fd_mask(ev, high), AIGW_EV_READ);
	write_byte(high_pipe[1]);

	while (calls < 101 && rounds++ < 10)
		aigw_ev_run_once(ev, 0, NULL);
	assert_int_equal(calls, 101);
	for (i = 0; i < (int)N_ELEMS(pipes); i++) {
		assert_int_equal(aigw_ev_fd_mask(ev, pipes[i][0]), AIGW_EV_NONE);
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
	close(high);
	close(high_pipe[0]);
	close(high_pipe[1]);
	aigw_ev_free(ev);
}

/* ------------------------------------------------------------ timers */

struct order_log {
	int ids[512];
	int n;
};

struct order_timer {
	struct aigw_ev_timer timer;
	struct order_log *log;
	int id;
	uint64_t started_us;
	uint64_t after_us;
	uint64_t fired_us;
};

static void log_order(struct aigw_ev *ev, struct aigw_ev_timer *timer, void *arg)
{
	struct order_timer *t = arg;
	(void)ev;
	assert_ptr_equal(&t->timer, timer);
	assert_false(aigw_ev_timer_armed(timer));
	t->fired_us = aigw_clock_mono_us();
	t->log->ids[t->log->n++] = t->id;
}

static void run_until(struct aigw_ev *ev, const int *count, int want)
{
	uint64_t give_up = aigw_clock_mono_us() + 1000000;

	while (*count < want && aigw_clock_mono_us() < give_up)
		assert_true(aigw_ev_run_once(ev, -1, NULL) >= 0);
	assert_int_equal(*count, want);
}

/* Delays given out of order fire by deadline. The expected order is that
 * of the delays, unless arming was so slow (a loaded machine, sanitizers)
 * that the deadlines themselves came out in another order: the order is
 * checked against the deadlines the timers actually got. */
static void test_timers_deadline_order(void **state)
{
	static const uint64_t delays[] = { 30000, 5000, 25000, 10000, 0, 20000, 15000 };
	static const int by_delay[] = { 4, 1, 3, 6, 5, 2, 0 };
	struct aigw_ev *ev = new_loop(0);
	struct order_timer t[N_ELEMS(delays)];
	struct order_log log = { .n = 0 };
	uint64_t arming_us;
	size_t i;
	(void)state;

	arming_us = aigw_clock_mono_us();
	for (i = 0; i < N_ELEMS(delays); i++) {
		t[i].log = &log;
		t[i].id = (int)i;
		aigw_ev_timer_init(&t[i].timer, log_order, &t[i]);
		assert_false(aigw_ev_timer_armed(&t[i].timer));
		aigw_ev_timer_start(ev, &t[i].timer, delays[i]);
		assert_true(aigw_ev_timer_armed(&t[i].timer));
	}
	arming_us = aigw_clock_mono_us() - arming_us;
	run_until(ev, &log.n, (int)N_ELEMS(delays));
	for (i = 1; i < N_ELEMS(delays); i++) {
		const struct aigw_ev_timer *a = &t[log.ids[i - 1]].timer, *b = &t[log.ids[i]].timer;
		assert_true(a->deadline_us < b->deadline_us ||
			    (a->deadline_us == b->deadline_us && a->seq < b->seq));
	}
	/* Normally arming takes far less than the 5 ms between delays. */
	if (arming_us < 5000)
		for (i = 0; i < N_ELEMS(by_delay); i++)
			assert_int_equal(log.ids[i], by_delay[i]);
	aigw_ev_free(ev);
}

/* Timers armed in a tight loop with the same delay share deadlines (the
 * clock has microsecond resolution); they must still fire in arming
 * order, as must the ones re-armed later. */
static void test_timers_same_deadline_arming_order(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	static struct order_timer t[300];
	struct order_log log = { .n = 0 };
	int i;
	(void)state;

	for (i = 0; i < 300; i++) {
		t[i].log = &log;
		t[i].id = i;
		aigw_ev_timer_init(&t[i].timer, log_order, &t[i]);
		aigw_ev_timer_start(ev, &t[i].timer, 1000);
	}
	/* Re-arming moves a timer behind those armed before it. */
	aigw_ev_timer_start(ev, &t[0].timer, 1000);
	aigw_ev_timer_start(ev, &t[1].timer, 1000);
	run_until(ev, &log.n, 300);
	for (i = 0; i < 298; i++)
		assert_int_equal(log.ids[i], i + 2);
	assert_int_equal(log.ids[298], 0);
	assert_int_equal(log.ids[299], 1);
	aigw_ev_free(ev);
}

struct rearm {
	struct aigw_ev_timer timer;
	int fired;
	int limit;
	uint64_t again_us;
};

static void rearm_self(struct aigw_ev *ev, struct aigw_ev_timer *timer, void *arg)
{
	struct rearm *r = arg;
	if (++r->fired < r->limit)
		aigw_ev_timer_start(ev, timer, r->again_us);
}

static void test_timer_rearm_in_callback(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct rearm r = { .limit = 5, .again_us = 200 };
	int i;
	(void)state;

	aigw_ev_timer_init(&r.timer, rearm_self, &r);
	aigw_ev_timer_start(ev, &r.timer, 200);
	run_until(ev, &r.fired, 5);
	assert_false(aigw_ev_timer_armed(&r.timer));

	/* Re-arming with 0 fires once per iteration, not forever. */
	r.fired = 0;
	r.limit = 1000;
	r.again_us = 0;
	aigw_ev_timer_start(ev, &r.timer, 0);
	for (i = 1; i <= 3; i++) {
		assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 1);
		assert_int_equal(r.fired, i);
		assert_true(aigw_ev_timer_armed(&r.timer));
	}
	aigw_ev_timer_stop(ev, &r.timer);
	assert_false(aigw_ev_timer_armed(&r.timer));
	aigw_ev_timer_stop(ev, &r.timer); /* not armed: no-op */
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 0);
	aigw_ev_free(ev);
}

struct stopper {
	struct aigw_ev_timer timer;
	struct aigw_ev_timer *victim;
	int fired;
};

static void stop_victim(struct aigw_ev *ev, struct aigw_ev_timer *timer, void *arg)
{
	struct stopper *s = arg;
	(void)timer;
	s->fired++;
	aigw_ev_timer_stop(ev, s->victim);
}

static void count_fire(struct aigw_ev *ev, struct aigw_ev_timer *timer, void *arg)
{
	(void)ev;
	(void)timer;
	(*(int *)arg)++;
}

static void test_timer_stop_other_in_callback(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct stopper s = { .fired = 0 };
	struct aigw_ev_timer victim, bystander;
	int victim_fired = 0, bystander_fired = 0;
	(void)state;

	aigw_ev_timer_init(&s.timer, stop_victim, &s);
	aigw_ev_timer_init(&victim, count_fire, &victim_fired);
	aigw_ev_timer_init(&bystander, count_fire, &bystander_fired);
	s.victim = &victim;
	aigw_ev_timer_start(ev, &s.timer, 500);
	aigw_ev_timer_start(ev, &victim, 500);
	aigw_ev_timer_start(ev, &bystander, 500);
	/* All three are due by the time the loop looks. */
	sleep_us(2000);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 2);
	assert_int_equal(s.fired, 1);
	assert_int_equal(victim_fired, 0);
	assert_int_equal(bystander_fired, 1);
	assert_false(aigw_ev_timer_armed(&victim));
	aigw_ev_free(ev);
}

static void test_timers_never_early(void **state)
{
	static const uint64_t delays[] = { 1, 700, 1000, 1001, 1500, 2300, 4999, 5000 };
	struct aigw_ev *ev = new_loop(0);
	struct order_timer t[N_ELEMS(delays)];
	struct order_log log = { .n = 0 };
	size_t i;
	(void)state;

	for (i = 0; i < N_ELEMS(delays); i++) {
		t[i].log = &log;
		t[i].id = (int)i;
		t[i].after_us = delays[i];
		aigw_ev_timer_init(&t[i].timer, log_order, &t[i]);
		t[i].started_us = aigw_clock_mono_us();
		aigw_ev_timer_start(ev, &t[i].timer, delays[i]);
	}
	run_until(ev, &log.n, (int)N_ELEMS(delays));
	for (i = 0; i < N_ELEMS(delays); i++)
		if (t[i].fired_us - t[i].started_us < t[i].after_us)
			fail_msg("timer %zu (%llu us) fired after %llu us", i,
				 (unsigned long long)t[i].after_us,
				 (unsigned long long)(t[i].fired_us - t[i].started_us));
	/* The cached time moved on with the iterations. */
	assert_true(aigw_ev_now_us(ev) >= t[N_ELEMS(delays) - 1].started_us + 5000);
	aigw_ev_free(ev);
}

/* 10000 random starts, re-arms and stops over 200 timers, checked against
 * a model that knows each armed timer's (deadline, sequence): after every
 * round of 1000 operations all armed timers are allowed to expire, and
 * they must fire exactly in the model's sorted order. */
struct model_timer {
	struct aigw_ev_timer timer;
	struct order_log *log;
	int id;
	bool armed;
	uint64_t deadline, seq;
};

static struct model_timer *sort_base;

static int by_deadline(const void *a, const void *b)
{
	const struct model_timer *x = &sort_base[*(const int *)a];
	const struct model_timer *y = &sort_base[*(const int *)b];
	if (x->deadline != y->deadline)
		return x->deadline < y->deadline ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void model_fire(struct aigw_ev *ev, struct aigw_ev_timer *timer, void *arg)
{
	struct model_timer *m = arg;
	(void)ev;
	(void)timer;
	assert_true(m->armed);
	m->armed = false;
	m->log->ids[m->log->n++] = m->id;
}

static void test_timer_heap_random(void **state)
{
	enum { TIMERS = 200, ROUNDS = 10, OPS = 1000 };
	static struct model_timer m[TIMERS];
	static struct order_log log;
	struct aigw_ev *ev = new_loop(0);
	uint64_t rng = 0x9e3779b97f4a7c15u;
	int expect[TIMERS], n_armed, i, round, op;
	(void)state;

	for (i = 0; i < TIMERS; i++) {
		m[i].log = &log;
		m[i].id = i;
		m[i].armed = false;
		aigw_ev_timer_init(&m[i].timer, model_fire, &m[i]);
	}
	for (round = 0; round < ROUNDS; round++) {
		for (op = 0; op < OPS; op++) {
			struct model_timer *t = &m[aigw_rand_xorshift64(&rng) % TIMERS];
			if (aigw_rand_xorshift64(&rng) % 3 == 0) {
				aigw_ev_timer_stop(ev, &t->timer);
				t->armed = false;
			} else {
				/* Few distinct delays: many equal deadlines. */
				aigw_ev_timer_start(ev, &t->timer, (aigw_rand_xorshift64(&rng) % 4) * 100);
				t->armed = true;
				t->deadline = t->timer.deadline_us;
				t->seq = t->timer.seq;
			}
			assert_int_equal(aigw_ev_timer_armed(&t->timer), t->armed);
		}
		n_armed = 0;
		for (i = 0; i < TIMERS; i++)
			if (m[i].armed)
				expect[n_armed++] = i;
		sort_base = m;
		qsort(expect, (size_t)n_armed, sizeof(expect[0]), by_deadline);
		log.n = 0;
		run_until(ev, &log.n, n_armed);
		for (i = 0; i < n_armed; i++)
			if (log.ids[i] != expect[i])
				fail_msg("round %d: position %d fired timer %d, expected %d", round,
					 i, log.ids[i], expect[i]);
	}
	aigw_ev_free(ev);
}

/* A zero-filled timer is valid and unarmed; free disarms what is left. */
static void test_timer_zero_and_free(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct aigw_ev_timer zero, left;
	int fired = 0;
	(void)state;

	memset(&zero, 0, sizeof(zero));
	assert_false(aigw_ev_timer_armed(&zero));
	aigw_ev_timer_stop(ev, &zero);
	aigw_ev_timer_init(&left, count_fire, &fired);
	aigw_ev_timer_start(ev, &left, 60000000);
	assert_true(aigw_ev_timer_armed(&left));
	/* A far timer does not make a bounded wait longer. */
	assert_int_equal(aigw_ev_run_once(ev, 1000, NULL), 0);
	aigw_ev_free(ev);
	assert_false(aigw_ev_timer_armed(&left));
	assert_int_equal(fired, 0);
}

/* ------------------------------------------------------------ loop */

struct hooks {
	int before_sleep;
	int wakeups;
	bool stop_on_wakeup;
};

static void count_before_sleep(struct aigw_ev *ev, void *arg)
{
	(void)ev;
	((struct hooks *)arg)->before_sleep++;
}

static void on_wakeup(struct aigw_ev *ev, void *arg)
{
	struct hooks *h = arg;
	h->wakeups++;
	if (h->stop_on_wakeup)
		aigw_ev_stop(ev);
}

static void test_before_sleep_and_time(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct hooks h = { 0 };
	uint64_t t0;
	(void)state;

	aigw_ev_set_before_sleep(ev, count_before_sleep, &h);
	t0 = aigw_ev_now_us(ev);
	aigw_ev_run_once(ev, 0, NULL);
	aigw_ev_run_once(ev, 1000, NULL);
	assert_int_equal(h.before_sleep, 2);
	assert_true(aigw_ev_now_us(ev) >= t0 + 1000);
	t0 = aigw_ev_now_us(ev);
	sleep_us(500);
	assert_int_equal(aigw_ev_now_us(ev), t0); /* cached */
	assert_true(aigw_ev_update_time(ev) >= t0 + 500);
	aigw_ev_set_before_sleep(ev, NULL, NULL);
	aigw_ev_run_once(ev, 0, NULL);
	assert_int_equal(h.before_sleep, 2);
	aigw_ev_free(ev);
}

static void test_wakeups_coalesce(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct hooks h = { 0 };
	int i;
	(void)state;

	aigw_ev_set_wakeup_handler(ev, on_wakeup, &h);
	for (i = 0; i < 1000; i++)
		aigw_ev_wakeup(ev);
	aigw_ev_run_once(ev, 0, NULL);
	assert_int_equal(h.wakeups, 1);
	aigw_ev_run_once(ev, 0, NULL);
	assert_int_equal(h.wakeups, 1);
	aigw_ev_wakeup(ev);
	aigw_ev_run_once(ev, 0, NULL);
	assert_int_equal(h.wakeups, 2);
	aigw_ev_free(ev);
}

struct thread_arg {
	struct aigw_ev *ev;
	bool use_stop;
};

static void *poke_later(void *arg)
{
	struct thread_arg *a = arg;
	sleep_us(20000);
	if (a->use_stop)
		aigw_ev_stop(a->ev);
	else
		aigw_ev_wakeup(a->ev);
	return NULL;
}

static void test_wakeup_from_thread_stops_loop(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct hooks h = { .stop_on_wakeup = true };
	struct thread_arg a = { ev, false };
	pthread_t th;
	uint64_t t0;
	(void)state;

	/* The handler runs on the loop thread and stops the loop. */
	aigw_ev_set_wakeup_handler(ev, on_wakeup, &h);
	t0 = aigw_clock_mono_us();
	assert_int_equal(pthread_create(&th, NULL, poke_later, &a), 0);
	assert_int_equal(aigw_ev_run(ev, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(h.wakeups, 1);
	assert_true(aigw_clock_mono_us() - t0 >= 20000);

	/* aigw_ev_stop itself from the other thread. */
	h.stop_on_wakeup = false;
	a.use_stop = true;
	assert_int_equal(pthread_create(&th, NULL, poke_later, &a), 0);
	assert_int_equal(aigw_ev_run(ev, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(h.wakeups, 1);

	/* A stop asked for before running ends the next run at once. */
	aigw_ev_stop(ev);
	assert_int_equal(aigw_ev_run(ev, NULL), 0);
	aigw_ev_free(ev);
}

static void stop_from_timer(struct aigw_ev *ev, struct aigw_ev_timer *timer, void *arg)
{
	(void)timer;
	(*(int *)arg)++;
	aigw_ev_stop(ev);
}

static void test_stop_from_callback(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct aigw_ev_timer t;
	int fired = 0;
	(void)state;

	aigw_ev_timer_init(&t, stop_from_timer, &fired);
	aigw_ev_timer_start(ev, &t, 1000);
	assert_int_equal(aigw_ev_run(ev, NULL), 0);
	assert_int_equal(fired, 1);
	aigw_ev_free(ev);
}

/* ------------------------------------------------------------ sockets */

struct acceptor {
	int accepted;
	int client_fd;
};

static void on_accept(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct acceptor *a = arg;
	(void)ev;
	assert_int_equal(mask, AIGW_EV_READ);
	a->client_fd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (a->client_fd >= 0)
		a->accepted++;
}

static int connect_to(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_listen_and_accept(void **state)
{
	struct aigw_ev *ev = new_loop(0);
	struct aigw_err err = { 0 };
	struct acceptor a = { 0, -1 };
	int lfd = -1, port = -1, cfd;
	(void)state;

	if (aigw_ev_listen_tcp("127.0.0.1:0", false, 16, &lfd, &port, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(port > 0 && port < 65536);
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(aigw_ev_add(ev, lfd, AIGW_EV_READ, on_accept, &a, NULL), 0);
	assert_int_equal(aigw_ev_run_once(ev, 0, NULL), 0);

	cfd = connect_to(AF_INET, port);
	assert_true(cfd >= 0);
	assert_int_equal(aigw_ev_run_once(ev, 1000000, NULL), 1);
	assert_int_equal(a.accepted, 1);
	assert_true(a.client_fd >= 0);
	close(a.client_fd);
	close(cfd);
	aigw_ev_del(ev, lfd, AIGW_EV_READ);
	close(lfd);
	aigw_ev_free(ev);
}

static void test_listen_forms(void **state)
{
	struct aigw_err err = { 0 };
	int fd, fd2, port, port2, cfd;
	(void)state;

	/* Every interface: reachable over IPv4 loopback. */
	if (aigw_ev_listen_tcp(":0", false, 0, &fd, &port, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(port > 0);
	cfd = connect_to(AF_INET, port);
	assert_true(cfd >= 0);
	close(cfd);
	close(fd);

	if (aigw_ev_listen_tcp("localhost:0", false, 0, &fd, &port, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(port > 0);
	close(fd);

	/* IPv6 loopback, when the system has it. */
	if (aigw_ev_listen_tcp("[::1]:0", false, 0, &fd, &port, &err) == 0) {
		assert_true(port > 0);
		cfd = connect_to(AF_INET6, port);
		assert_true(cfd >= 0);
		close(cfd);
		close(fd);
	} else {
		assert_non_null(strstr(err.msg, "cannot listen on [::1]:0: "));
	}

	/* Two SO_REUSEPORT listeners share a port; without it the second is
	 * refused with the kernel's reason. */
	if (aigw_ev_listen_tcp("127.0.0.1:0", true, 0, &fd, &port, &err) < 0)
		fail_msg("%s", err.msg);
	{
		char addr[32];
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
		if (aigw_ev_listen_tcp(addr, true, 0, &fd2, &port2, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(port2, port);
		close(fd2);
		assert_int_equal(aigw_ev_listen_tcp(addr, false, 0, &fd2, NULL, &err), AIGW_EFAIL);
		char want[80];
		snprintf(want, sizeof(want), "cannot listen on %s: Address already in use", addr);
		assert_string_equal(err.msg, want);
	}
	close(fd);

	/* Without privileges, low ports are refused with a plain message. */
	if (geteuid() != 0) {
		assert_int_equal(aigw_ev_listen_tcp("127.0.0.1:80", false, 0, &fd, NULL, &err),
				 AIGW_EFAIL);
		assert_string_equal(err.msg, "cannot listen on 127.0.0.1:80: Permission denied");
	}
}

static void test_listen_bad_addresses(void **state)
{
	static const struct {
		const char *in;
		int code;
		const char *msg;
	} cases[] = {
		{ "", AIGW_EINVAL, "invalid listen address '': expected host:port" },
		{ "127.0.0.1", AIGW_EINVAL, "invalid listen address '127.0.0.1': missing port (expected host:port)" },
		{ "127.0.0.1:", AIGW_EINVAL, "invalid listen address '127.0.0.1:': bad port '' (expected 0 to 65535)" },
		{ "127.0.0.1:65536", AIGW_EINVAL, "invalid listen address '127.0.0.1:65536': bad port '65536' (expected 0 to 65535)" },
		{ "127.0.0.1:0080000", AIGW_EINVAL, "invalid listen address '127.0.0.1:0080000': bad port '0080000' (expected 0 to 65535)" },
		{ "127.0.0.1:http", AIGW_EINVAL, "invalid listen address '127.0.0.1:http': bad port 'http' (expected 0 to 65535)" },
		{ "127.0.0.1:-1", AIGW_EINVAL, "invalid listen address '127.0.0.1:-1': bad port '-1' (expected 0 to 65535)" },
		{ "::1:80", AIGW_EINVAL, "invalid listen address '::1:80': put an IPv6 address in brackets, as in [::1]:8080" },
		{ "[::1:80", AIGW_EINVAL, "invalid listen address '[::1:80': missing ']'" },
		{ "[::1]80", AIGW_EINVAL, "invalid listen address '[::1]80': missing port (expected [address]:port)" },
		{ "[]:80", AIGW_EINVAL, "invalid listen address '[]:80': empty address in brackets" },
		/* Numeric but not an address of this host. */
		{ "192.0.2.1:0", AIGW_EFAIL, "cannot listen on 192.0.2.1:0: Cannot assign requested address" },
	};
	struct aigw_err err;
	size_t i;
	int fd = -1;
	(void)state;

	for (i = 0; i < N_ELEMS(cases); i++) {
		memset(&err, 0, sizeof(err));
		int rc = aigw_ev_listen_tcp(cases[i].in, false, 0, &fd, NULL, &err);
		if (rc != cases[i].code)
			fail_msg("'%s': code %d, expected %d (%s)", cases[i].in, rc, cases[i].code,
				 err.msg);
		assert_string_equal(err.msg, cases[i].msg);
	}
}

static void test_set_nonblock(void **state)
{
	struct aigw_err err = { 0 };
	int p[2];
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(aigw_ev_set_nonblock(p[0], &err), 0);
	assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(aigw_ev_set_nonblock(p[0], &err), 0);
	close(p[0]);
	close(p[1]);
	assert_int_equal(aigw_ev_set_nonblock(p[0], &err), AIGW_EFAIL);
	assert_non_null(strstr(err.msg, "non-blocking: Bad file descriptor"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe_readiness),
		cmocka_unit_test(test_mask_merge_and_callback_replace),
		cmocka_unit_test(test_add_errors),
		cmocka_unit_test(test_delete_other_in_callback),
		cmocka_unit_test(test_delete_and_reuse_fd_in_callback),
		cmocka_unit_test(test_close_self_and_closed_without_del),
		cmocka_unit_test(test_fd_table_growth),
		cmocka_unit_test(test_timers_deadline_order),
		cmocka_unit_test(test_timers_same_deadline_arming_order),
		cmocka_unit_test(test_timer_rearm_in_callback),
		cmocka_unit_test(test_timer_stop_other_in_callback),
		cmocka_unit_test(test_timers_never_early),
		cmocka_unit_test(test_timer_heap_random),
		cmocka_unit_test(test_timer_zero_and_free),
		cmocka_unit_test(test_before_sleep_and_time),
		cmocka_unit_test(test_wakeups_coalesce),
		cmocka_unit_test(test_wakeup_from_thread_stops_loop),
		cmocka_unit_test(test_stop_from_callback),
		cmocka_unit_test(test_listen_and_accept),
		cmocka_unit_test(test_listen_forms),
		cmocka_unit_test(test_listen_bad_addresses),
		cmocka_unit_test(test_set_nonblock),
		cmocka_unit_test(test_set_fn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
