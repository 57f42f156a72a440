"""Where each key of a TOML document sits: key path -> line number.

``tomllib`` parses but keeps no positions, so scenario errors could not name a line.  This
scanner walks a document that ``tomllib`` has already accepted and records the line of every
table header (``[a.b]``, ``[[a.b]]``), every ``key = value`` (dotted and quoted keys too),
and every element of an array or inline table.  Paths use ints for array indices, as the
parsed data does: ``("process", 1, "phase", 3, "byte")``.

It is lenient by design: the syntax was checked by tomllib, so anything it does not
understand ends the scan with the lines found so far, and callers fall back to the nearest
located ancestor of a key, or to the key path alone.
"""

from __future__ import annotations

Path = tuple[str | int, ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.lines: dict[Path, int] = {}
        self.arrays: dict[Path, int] = {}  # array-of-tables path -> its last index

    # -- characters ---------------------------------------------------------------------

    def peek(self, n: int = 1) -> str:
        return self.s[self.i : self.i + n]

    def advance(self, n: int = 1) -> None:
        self.line += self.s.count("\n", self.i, self.i + n)
        self.i += n

    def skip_blank(self, newlines: bool) -> None:
        """Skip spaces, and comments and newlines when *newlines*."""
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.advance()
            elif c == "#" and newlines:
                end = self.s.find("\n", self.i)
                self.advance((len(self.s) if end < 0 else end) - self.i)
            else:
                return

    def string(self) -> str:
        """A basic, literal or multi-line string at the cursor; its value (escapes kept)."""
        quote = self.s[self.i]
        if self.peek(3) == quote * 3:
            end = self.s.index(quote * 3, self.i + 3)
            while self.s[end + 3 : end + 4] == quote:  # """a"""" : quotes before the end
                end += 1
            value = self.s[self.i + 3 : end]
            self.advance(end + 3 - self.i)
            return value
        j = self.i + 1
        while self.s[j] != quote:
            j += 2 if quote == '"' and self.s[j] == "\\" else 1
        value = self.s[self.i + 1 : j]
        self.advance(j + 1 - self.i)
        return value

    # -- keys and values ----------------------------------------------------------------

    def key(self) -> list[str]:
        """A dotted key, up to (not including) ``=`` or ``]``."""
        parts = []
        while True:
            self.skip_blank(False)
            if self.peek() in "\"'":
                parts.append(self.string())
            else:
                j = self.i
                while j < len(self.s) and self.s[j] in _BARE:
                    j += 1
                if j == self.i:
                    raise ValueError("not a key")
                parts.append(self.s[self.i : j])
                self.advance(j - self.i)
            self.skip_blank(False)
            if self.peek() != ".":
                return parts
            self.advance()

    def value(self, path: Path) -> None:
        self.skip_blank(False)
        c = self.peek()
        if c in "\"'":
            self.string()
        elif c == "[":
            self.advance()
            self.array(path)
        elif c == "{":
            self.advance()
            self.inline_table(path)
        else:
            while self.i < len(self.s) and self.s[self.i] not in ",]}\n#":
                self.advance()

    def array(self, path: Path) -> None:
        index = 0
        while True:
            self.skip_blank(True)
            if self.i >= len(self.s):
                raise ValueError("the document ends in an array")
            if self.peek() == "]":
                self.advance()
                return
            self.lines[(*path, index)] = self.line
            self.value((*path, index))
            index += 1
            self.skip_blank(True)
            if self.peek() == ",":
                self.advance()

    def inline_table(self, path: Path) -> None:
        while True:
            self.skip_blank(True)
            if self.i >= len(self.s):
                raise ValueError("the document ends in an inline table")
            if self.peek() == "}":
                self.advance()
                return
            self.key_value(path)
            self.skip_blank(True)
            if self.peek() == ",":
                self.advance()

    def key_value(self, table: Path) -> None:
        line = self.line
        parts = self.key()
        for n in range(1, len(parts) + 1):
            self.lines.setdefault((*table, *parts[:n]), line)
        self.skip_blank(False)
        self.advance()  # "="
        self.value((*table, *parts))

    # -- headers and the document -------------------------------------------------------

    def resolve(self, parts: list[str]) -> Path:
        """The concrete path of a header's key: arrays of tables stand for their last element."""
        path: Path = ()
        for part in parts:
            path = (*path, part)
            if path in self.arrays:
                path = (*path, self.arrays[path])
        return path

    def header(self) -> Path:
        double = self.peek(2) == "[["
        self.advance(2 if double else 1)
        line = self.line
        parts = self.key()
        self.advance(2 if double else 1)
        if not double:
            table = self.resolve(parts)
        else:
            array = (*self.resolve(parts[:-1]), parts[-1])
            self.lines.setdefault(array, line)
            self.arrays[array] = self.arrays.get(array, -1) + 1
            table = (*array, self.arrays[array])
        self.lines.setdefault(table, line)
        return table

    def document(self) -> None:
        table: Path = ()
        while True:
            self.skip_blank(True)
            if self.i >= len(self.s):
                return
            if self.peek() == "[":
                table = self.header()
            else:
                self.key_value(table)


def key_lines(text: str) -> dict[Path, int]:
    """The line (1-based) of every key path of the TOML document *text*."""
    scanner = _Scanner(text)
    try:
        scanner.document()
    except (ValueError, IndexError, RecursionError):
        pass  # the lines found so far: callers fall back to an ancestor
    return scanner.lines


def line_of(lines: dict[Path, int], path: Path) -> int:
    """The line of *path*, or of its nearest located ancestor; 0 if none is known."""
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return 0


def format_path(path: Path) -> str:
    """``process[1].phase[3].byte`` for ``("process", 1, "phase", 3, "byte")``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if part and set(part) <= _BARE else f'"{part}"'
            out += f".{text}" if out else text
    return out
