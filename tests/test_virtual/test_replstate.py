"""REPLTracker: when is the interpreter at a prompt (Ctrl-C is a byte) or running (SIGINT)?"""

from hil_tests.targets.replstate import RAW_BANNER, REPLTracker

BANNER = (b"MicroPython 9458e3a23f on 2026-07-05; linux [GCC 14.2.1] version\r\n"
          b"Type \"help()\" for more information.\r\n>>> ")


def test_fresh_interpreter_is_running_not_idle():
    t = REPLTracker()
    assert not t.idle and not t.raw_mode
    t.feed_output(b"standin: boot cause 1\n")
    assert not t.idle


def test_friendly_prompt_is_idle_and_enter_runs_code():
    t = REPLTracker()
    t.feed_output(BANNER)
    assert t.idle and not t.raw_mode
    t.feed_input(b"while True: pass", now=1.0)
    assert t.idle  # typing is not running
    t.feed_input(b"\r", now=2.0)
    assert not t.idle and t.executing_since == 2.0
    t.feed_output(b"\r\n... ")
    assert t.idle and t.executing_since is None


def test_raw_repl_runs_only_on_ctrl_d_and_ends_with_eof_prompt():
    t = REPLTracker()
    t.feed_output(BANNER + b"\r\n" + RAW_BANNER)
    assert t.idle and t.raw_mode
    t.feed_input(b"print(1)\r\nx = 2\r\n", now=1.0)
    assert t.idle
    t.feed_input(b"\x04", now=2.0)
    assert not t.idle
    t.feed_output(b"OK")
    assert not t.idle
    t.feed_output(b"1\n\x04\x04>")
    assert t.idle and t.raw_mode


def test_output_split_across_reads_still_finds_the_prompt():
    t = REPLTracker()
    for i in range(len(RAW_BANNER)):
        t.feed_output(RAW_BANNER[i:i + 1])
    assert t.idle and t.raw_mode


def test_ctrl_b_back_to_friendly_repl():
    t = REPLTracker()
    t.feed_output(RAW_BANNER)
    t.feed_input(b"\r\x02", now=1.0)
    t.feed_output(b"\r\n" + BANNER)
    assert t.idle and not t.raw_mode


def test_raw_paste_counts_as_waiting_for_input_until_ctrl_d():
    t = REPLTracker()
    t.feed_output(RAW_BANNER)
    t.feed_input(b"\x05A\x01", now=1.0)
    t.feed_output(b"R\x01\x80\x00\x01")
    assert t.idle and t.paste
    t.feed_input(b"import time\ntime.sleep(5)\n", now=1.5)
    t.feed_output(b"\x01")  # flow control: more window
    assert t.idle
    t.feed_input(b"\x04", now=2.0)
    assert not t.idle and not t.paste
    t.feed_output(b"\x04")  # end-of-paste acknowledgement, then the program runs
    assert not t.idle


def test_an_old_paste_answer_does_not_count_for_a_new_request():
    t = REPLTracker()
    t.feed_output(RAW_BANNER)
    t.feed_input(b"\x05A\x01", now=1.0)
    t.feed_output(b"R\x01\x80\x00\x01")
    t.feed_input(b"pass\x04", now=2.0)
    t.feed_output(b"\x04\x04\x04>")
    assert t.idle
    t.feed_input(b"\x05A\x01", now=3.0)
    assert not t.paste  # no fresh "R\x01" yet


def test_program_output_that_is_not_a_prompt_means_running():
    t = REPLTracker()
    t.feed_output(BANNER)
    t.feed_input(b"import app\r", now=1.0)
    t.feed_output(b"import app\r\nstarting\n")
    assert not t.idle


def test_reset_forgets_everything():
    t = REPLTracker()
    t.feed_output(RAW_BANNER)
    t.reset()
    assert not t.idle and not t.raw_mode
