#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What one idle wait costs the thread that waits, on this machine: the CPU time the scheduler
# charges it (/proc/thread-self/schedstat) per nanosleep of 10, 100 and 400 us, and per
# epoll_wait woken by an eventfd that a thread on the other CPU writes every 150 us (no timer
# on the waiting side). On a VM the timer, the halt and the wake-up interrupt are exits to the
# hypervisor that the guest charges to the waiting task, so a poll loop's idle waits are part
# of its CPU per message (docs/benchmarks.md, "wake"). Loopback only: no network at all.
# Usage: wake-cost.sh [ROUNDS] (20000 sleeps per size; 10000 eventfd wake-ups).
set -euo pipefail
ROUNDS=${1:-20000}
tmp=$(mktemp -d /tmp/dpmail-wake.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/wake.c" <<'EOC'
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static double run_us(void) /* this thread's CPU time, from the scheduler */
{
	unsigned long long ns = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	if (!f || fscanf(f, "%llu", &ns) != 1)
		exit(1);
	fclose(f);
	return (double)ns / 1e3;
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int efd;
static volatile int stop;

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

static void *waker(void *arg)
{
	(void)arg;
	pin(0);
	struct timespec ts = { 0, 150000 };
	uint64_t one = 1;
	while (!stop) {
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		if (write(efd, &one, sizeof(one)) < 0)
			break;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	pin(1);
	static const int sizes[] = { 10, 100, 400 };
	for (unsigned i = 0; i < 3; i++) {
		struct timespec ts = { 0, sizes[i] * 1000L };
		double c0 = run_us(), w0 = now_us();
		for (int k = 0; k < n; k++)
			nanosleep(&ts, NULL);
		printf("nanosleep %3d us: %6.1f us wall, %5.1f us CPU per sleep\n", sizes[i],
		       (now_us() - w0) / n, (run_us() - c0) / n);
	}
	efd = eventfd(0, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
	pthread_t t;
	pthread_create(&t, NULL, waker, NULL);
	int m = n / 2;
	double c0 = run_us();
	for (int k = 0; k < m; k++) {
		uint64_t v;
		epoll_wait(ep, &ev, 1, -1);
		if (read(efd, &v, sizeof(v)) < 0)
			return 1;
	}
	printf("epoll_wait woken by an eventfd (no timer): %5.1f us CPU per wait\n", (run_us() - c0) / m);
	stop = 1;
	pthread_join(t, NULL);
	c0 = run_us();
	for (int k = 0; k < n; k++)
		sched_yield();
	printf("sched_yield (no wait, for scale): %5.2f us CPU\n", (run_us() - c0) / n);
	return 0;
}
EOC
cc -O2 -pthread -o "$tmp/wake" "$tmp/wake.c"
echo "$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), clockevent $(cat /sys/devices/system/clockevents/clockevent0/current_device 2>/dev/null || echo ?), cpuidle $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo ?)"
"$tmp/wake" "$ROUNDS"
