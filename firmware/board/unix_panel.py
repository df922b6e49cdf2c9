# unix_panel: the virtual reader's OLED, an SSD1306 controller behind a stand-in I2C bus.
#
# The firmware's own SSD1306 driver (drivers/ssd1306.py) talks to it exactly as to a
# panel on a board's I2C; this end decodes the control bytes (SSD1306 datasheet 8.1.5),
# the addressing commands the driver uses (0x20 mode, 0x21 column and 0x22 page window)
# and the data, into the controller's display RAM. After each data transfer the RAM goes
# to `path` (128 x height/8 bytes, page by page, bit 0 at the top of a page): what the
# panel shows, for tests and docs (tools/display_png.py turns it into a PNG).

_ARGS = {0x20: 1, 0x21: 2, 0x22: 2, 0x81: 1, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1,
         0xDB: 1, 0x8D: 1}
ADDRESS = 0x3C


class PanelBus:
    def __init__(self, path, height=32):
        self.path = path
        self.pages = height // 8
        self.ram = bytearray(128 * self.pages)
        self.write_errors = 0
        self._mode = 2  # page addressing after reset
        self._cols = (0, 127)
        self._rows = (0, self.pages - 1)
        self._col = 0
        self._page = 0
        self._command = None  # a command still waiting for its arguments

    def writeto(self, address, buf):
        self.writevto(address, (buf,))

    def writevto(self, address, vector):
        if address != ADDRESS:
            raise OSError(19)  # ENODEV: nothing answers at that address, as on a bus
        state = 0  # 0 control byte next, 1 one command, 2 one data, 3 commands, 4 data
        wrote = False
        for part in vector:
            for b in part:
                if state == 0:
                    state = (2 if b & 0x40 else 1) if b & 0x80 else (4 if b & 0x40 else 3)
                elif state == 1 or state == 3:
                    self._command_byte(b)
                    if state == 1:
                        state = 0
                else:
                    self._data(b)
                    wrote = True
                    if state == 2:
                        state = 0
        if wrote:
            self._save()

    def _command_byte(self, b):
        pending = self._command
        if pending is None:
            if b in _ARGS:
                self._command = [b]
            return
        pending.append(b)
        if len(pending) <= _ARGS[pending[0]]:
            return
        self._command = None
        code = pending[0]
        if code == 0x20:
            self._mode = pending[1]
        elif code == 0x21:
            self._cols = (pending[1], pending[2])
            self._col = pending[1]
        elif code == 0x22:
            self._rows = (pending[1], pending[2])
            self._page = pending[1]

    def _data(self, b):
        if self._mode != 0:
            return  # only horizontal addressing is modelled (the driver's mode)
        if self._page < self.pages:
            self.ram[self._page * 128 + self._col] = b
        self._col += 1
        if self._col > self._cols[1]:
            self._col = self._cols[0]
            self._page += 1
            if self._page > self._rows[1]:
                self._page = self._rows[0]

    def _save(self):
        if not self.path:
            return
        try:  # one write of the whole RAM; a reader may see the file empty for a moment
            with open(self.path, "wb") as f:
                f.write(self.ram)
        except OSError:
            self.write_errors += 1  # no /host mounted: the panel still works
