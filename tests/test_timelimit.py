"""time_limit: interrupts, nests, restores the caller's timer and handler, refuses bad limits."""
import signal
import threading
import time

import pytest

from kanlab.timelimit import TimeLimitExceeded, time_limit


@pytest.fixture(autouse=True)
def _no_timer_left():
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def test_interrupts_the_block_with_its_token():
    start = time.perf_counter()
    with pytest.raises(TimeLimitExceeded) as info:
        with time_limit(0.2) as token:
            time.sleep(3)
    assert info.value.token is token and time.perf_counter() - start < 2
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0 and signal.getsignal(signal.SIGALRM) == signal.SIG_DFL


def test_an_outer_deadline_that_comes_first_stays_in_charge():
    start = time.perf_counter()
    with pytest.raises(TimeLimitExceeded) as info:
        with time_limit(0.3) as outer:
            with time_limit(5):
                time.sleep(3)
    assert info.value.token is outer and time.perf_counter() - start < 2


def test_the_callers_timer_keeps_its_deadline_and_handler():
    fired = []

    def handler(signum, frame):
        fired.append(time.perf_counter())

    signal.signal(signal.SIGALRM, handler)
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, 0.6)
    with time_limit(5):
        time.sleep(0.3)
    assert signal.getsignal(signal.SIGALRM) is handler
    assert 0.1 < signal.getitimer(signal.ITIMER_REAL)[0] < 0.35  # 0.6 s minus the 0.3 s spent inside
    time.sleep(0.6)
    assert len(fired) == 1 and fired[0] - start < 0.8


def test_refuses_limits_that_are_not_positive_and_finite():
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="positive and finite"):
            with time_limit(bad):
                pass
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL


def test_no_limit_outside_the_main_thread():
    seen = []

    def work():
        with time_limit(0.05) as token:
            time.sleep(0.2)
            seen.append(token)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [None]
