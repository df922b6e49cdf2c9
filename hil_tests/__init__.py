# hil_tests: hardware-in-the-loop scenarios, reader targets (virtual or serial) and the demo district.
