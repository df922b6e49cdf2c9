# mpy_runner: run plain test_* functions inside the real MicroPython binary.
#
# usage: micropython tests/mpy_runner.py FILE [FILE ...] [-k SUBSTRING]
# Prints one line per test: "PASS file::name", "FAIL file::name: ExcType: msg"
# or "SKIP file::name: why" (a test raises SkipTest-named exception to skip),
# then a summary; exits 1 if any test failed or a file failed to load.
#
# Module search path: MICROPYPATH (hil_tests/mpy.py; tests/conftest.py adds the test folders),
# after this script's own folder tests/, which holds no module a test imports.
import sys


def _run_file(path, pattern, results):
    namespace = {"__name__": "mpy_test", "__file__": path}
    try:
        with open(path) as f:
            source = f.read()
        exec(compile(source, path, "exec"), namespace)
    except Exception as exc:
        results.append(("FAIL", path + "::<load>", _describe(exc)))
        sys.print_exception(exc)
        return
    names = sorted(n for n in namespace if n.startswith("test_") and callable(namespace[n]))
    for name in names:
        if pattern and pattern not in name:
            continue
        test_id = path + "::" + name
        try:
            namespace[name]()
        except Exception as exc:
            if type(exc).__name__ == "SkipTest":
                results.append(("SKIP", test_id, str(exc)))
                print("SKIP", test_id + ":", exc)
                continue
            results.append(("FAIL", test_id, _describe(exc)))
            print("FAIL", test_id + ":", _describe(exc))
            sys.print_exception(exc)
            continue
        results.append(("PASS", test_id, ""))
        print("PASS", test_id)


def _describe(exc):
    return "{}: {}".format(type(exc).__name__, exc)


def main(argv):
    pattern = None
    files = []
    i = 0
    while i < len(argv):
        if argv[i] == "-k":
            pattern = argv[i + 1]
            i += 2
            continue
        files.append(argv[i])
        i += 1
    results = []
    for path in files:
        _run_file(path, pattern, results)
    failed = sum(1 for r in results if r[0] == "FAIL")
    passed = sum(1 for r in results if r[0] == "PASS")
    skipped = sum(1 for r in results if r[0] == "SKIP")
    print("micropython: {} passed, {} failed, {} skipped".format(passed, failed, skipped))
    sys.exit(1 if failed else 0)


main(sys.argv[1:])
