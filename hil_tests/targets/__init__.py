# hil_tests.targets: readers a scenario can run against (virtual: pty bridge + flash image + card field).
