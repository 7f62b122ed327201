/*
 * Calibration for bench/switch.ts: N zero-timeout polls, timed plain and under the strace a switch is
 * traced with, to measure what each traced call costs (see TraceCost there). Not a floor of anything.
 */
#include <poll.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  struct pollfd p = { .fd = 0, .events = POLLIN };
  for (int i = 0; i < n; i++) poll(&p, 1, 0);
  return 0;
}
