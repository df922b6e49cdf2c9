# fakehw_ssd1306: an SSD1306 OLED controller on I2C (datasheet rev 1.1, 8.1.5, 10).
#
# Decodes control bytes (Co, D/C), runs the commands the driver uses with
# their argument counts, and writes data into its own GDDRAM in horizontal
# addressing mode inside the column/page window, wrapping as the chip does.

_ARGS = {0x20: 1, 0x21: 2, 0x22: 2, 0x81: 1, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1,
         0xDB: 1, 0x8D: 1}


class FakeSSD1306:
    def __init__(self, height=32):
        self.pages = height // 8
        self.ram = bytearray(128 * self.pages)
        self.commands = []  # (command, args...) tuples in order
        self.errors = []
        self.on = False
        self.mode = 2  # page addressing after reset
        self.charge_pump = 0x10
        self.contrast = 0x7F
        self.col_window = (0, 127)
        self.page_window = (0, self.pages - 1)
        self.col = 0
        self.page = 0
        self._pending = None

    def i2c_write(self, buf):
        self._transaction([buf])

    def i2c_writev(self, vector):
        self._transaction(vector)

    def _transaction(self, parts):
        state = "control"  # control | one_command | one_data | commands | data
        for part in parts:
            for b in part:
                if state == "control":
                    continuation = b & 0x80
                    data = b & 0x40
                    if b & 0x3F:
                        self.errors.append("control byte 0x{:02x} has low bits set".format(b))
                    if continuation:
                        state = "one_data" if data else "one_command"
                    else:
                        state = "data" if data else "commands"
                elif state == "one_command":
                    self._command_byte(b)
                    state = "control"
                elif state == "one_data":
                    self._data(b)
                    state = "control"
                elif state == "commands":
                    self._command_byte(b)
                else:
                    self._data(b)

    def _command_byte(self, b):
        if self._pending is not None:
            self._pending.append(b)
            if len(self._pending) == _ARGS[self._pending[0]] + 1:
                self._run(tuple(self._pending))
                self._pending = None
            return
        if b in _ARGS:
            self._pending = [b]
        else:
            self._run((b,))

    def _run(self, command):
        self.commands.append(command)
        code = command[0]
        if code == 0xAE:
            self.on = False
        elif code == 0xAF:
            self.on = True
        elif code == 0x20:
            self.mode = command[1]
        elif code == 0x21:
            self.col_window = (command[1], command[2])
            self.col = command[1]
        elif code == 0x22:
            self.page_window = (command[1], command[2])
            self.page = command[1]
        elif code == 0x8D:
            self.charge_pump = command[1]
        elif code == 0x81:
            self.contrast = command[1]

    def _data(self, b):
        if self.mode != 0:
            self.errors.append("data written outside horizontal addressing mode")
            return
        if self.page < self.pages:
            self.ram[self.page * 128 + self.col] = b
        self.col += 1
        if self.col > self.col_window[1]:
            self.col = self.col_window[0]
            self.page += 1
            if self.page > self.page_window[1]:
                self.page = self.page_window[0]
