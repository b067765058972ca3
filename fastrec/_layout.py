"""How a ratings text file is laid out: its separator, its header, which column is which, and
the type of each: told by the caller or found from the file's first lines.

:func:`find_layout` reads a sample of the text (:data:`SAMPLE_BYTES`) and decides

- the separator, where not given: of ``::``, tab, ``,``, ``;`` and ``|``, the one that splits
  the most sample lines into the same number (at least 3) of fields; ties go to the one the
  file's suffix suggests (``.dat``: ``::``; ``.tsv``, ``.data``: tab; ``.csv``: ``,``);
- the header, where not given: line 1 is a header when none of its fields is a number (a
  ratings line always has one, its rating);
- the columns, where not named: from common names (:data:`COLUMN_NAMES`, compared without
  case and punctuation), or, without a header, the MovieLens order user, item, rating,
  timestamp;
- the type of each id column: integers when every id of the sample is one (and none has a
  leading zero, as ISBNs and zip codes do), else strings; the reader switches a column to
  strings when a later line holds a non-integer id.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, replace

#: Bytes of text read to find the layout.
SAMPLE_BYTES = 1 << 16

#: Separators found without being given, in order of preference on a tie.
SEPARATORS = ("::", "\t", ",", ";", "|")
#: Words accepted for a separator beside the character itself (for the command line).
SEPARATOR_WORDS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_SEPARATOR_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", "::": "'::'"}
_SUFFIX_SEPARATORS = {
    ".dat": "::",
    ".tsv": "\t",
    ".tab": "\t",
    ".data": "\t",
    ".base": "\t",
    ".test": "\t",
    ".csv": ",",
}

ROLES = ("user", "item", "rating", "timestamp")
#: Each role's name in messages.
ROLE_WORDS = {"user": "user id", "item": "item id", "rating": "rating", "timestamp": "timestamp"}

#: Column names guessed for each role; compared lower case without punctuation, so that
#: ``user_id``, ``UserID``, ``User-ID`` and ``userId`` are one name.
COLUMN_NAMES = {
    "user": ("userId", "user_id", "user", "UserID", "uid", "reviewerID", "customer_id"),
    "item": (
        "movieId",
        "item_id",
        "itemId",
        "item",
        "movie_id",
        "movie",
        "iid",
        "product_id",
        "asin",
        "ISBN",
        "book_id",
        "business_id",
        "track_id",
    ),
    "rating": ("rating", "ratings", "score", "stars", "overall", "Book-Rating"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "unixReviewTime", "rated_at"),
}

#: Id values read as missing (an error naming the line), not as ids.
MISSING = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", "-nan", "NAN")

_LINE_RE = re.compile(r"\r\n|\r|\n")  # line ends as pyarrow sees them (not str.splitlines')
_INT_RE = re.compile(r"[ \t]*-?[0-9]+[ \t]*")
_LEADING_ZERO_RE = re.compile(r"[ \t]*-?0[0-9]")
_NUMBER_RE = re.compile(r"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
_ZONE_RE = re.compile(r"(?:Z|[+-][0-9]{2}:?[0-9]{2})[ \t]*$")
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Layout:
    """One ratings text file's layout, as the reader and its messages need it.

    ``positions`` are the user, item, rating and timestamp fields (0-based, as the user sees
    them; timestamp ``None`` where there is none); ``kinds`` the type of each: ``"int"`` or
    ``"str"`` for the ids, ``"float"`` for the rating, ``"int"``, ``"datetime"`` (naive,
    read as UTC) or ``"datetime_tz"`` (with a zone) for the timestamp.
    """

    separator: str
    n_fields: int
    positions: tuple
    kinds: tuple
    header: tuple[str, ...] | None = None  # line ``header_line``'s fields
    header_line: int = 0  # the header's line number (0: no header)
    example: str = "1,31,2.5,1260759144"

    @property
    def delimiter(self) -> str:
        """What pyarrow splits on (one character): ``'::'`` is split on ``':'``, which leaves
        an empty field inside each ``'::'``, read as type null so that a stray ``':'`` is an
        error."""
        return ":" if self.separator == "::" else self.separator

    @property
    def arrow_n_fields(self) -> int:
        return 2 * self.n_fields - 1 if self.separator == "::" else self.n_fields

    @property
    def arrow_positions(self) -> tuple:
        if self.separator != "::":
            return self.positions
        return tuple(None if p is None else 2 * p for p in self.positions)

    @property
    def separator_fields(self) -> tuple[int, ...]:
        """pyarrow's fields between the two halves of each ``'::'`` (must be empty)."""
        return tuple(range(1, self.arrow_n_fields, 2)) if self.separator == "::" else ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of a line's fields, for messages: the header, or the roles."""
        if self.header is not None:
            return self.header
        names = ["field"] * self.n_fields
        for role, p in zip(ROLES, self.positions, strict=True):
            if p is not None:
                names[p] = role
        return tuple(names)

    @property
    def expected(self) -> str:
        """What a line looks like, for messages."""
        what = f"{_SEPARATOR_NAMES.get(self.separator, repr(self.separator))}-separated lines"
        if self.header is not None:
            header = self.separator.join(self.header)
            return f"{what}: header {header!r}, then lines like {self.example!r}"
        return f"{what} ({', '.join(self.columns)}) like {self.example!r}"

    def with_kind(self, role: str, kind: str) -> Layout:
        kinds = list(self.kinds)
        kinds[ROLES.index(role)] = kind
        return replace(self, kinds=tuple(kinds))


def check_separator(sep) -> str | None:
    """``sep`` as the separator it names (``"tab"`` -> ``"\\t"``), checked; ``None`` stays."""
    if sep is None:
        return None
    if isinstance(sep, str):
        sep = SEPARATOR_WORDS.get(sep.lower(), sep)
        if sep == "::" or (len(sep) == 1 and sep not in '"\r\n' and not sep.isalnum()):
            return sep
    raise ValueError(
        f"sep must be one character such as ',', '\\t' (or 'tab'), ';', '|', or '::', got {sep!r}"
    )


def find_layout(where: str, suffix: str, sample: str, sep, header, columns: dict) -> Layout:
    """The layout of a text whose first lines are ``sample``; see the module docstring.

    ``columns`` maps each role to the column the caller named (a header name or a 0-based
    position) or ``None``. Raises ``ValueError`` naming the file, the line and what was
    expected where the layout cannot be found or does not match what was given.
    """
    lines = [(k, line) for k, line in enumerate(_LINE_RE.split(sample), start=1) if line]
    if not lines:
        raise ValueError(
            f"{where}: no ratings (the file holds only blank lines); expected ratings, one "
            "per line (user, item, rating[, timestamp])"
        )
    if sep is None:
        sep = _sniff_separator(where, lines, suffix)
    first_no, first = lines[0]
    first_fields = split_line(first, sep)
    if header is None:
        header = not any(_NUMBER_RE.fullmatch(f) for f in first_fields)
    names = tuple(f.strip() for f in first_fields) if header else None
    data_lines = lines[1:] if header else lines
    data = [split_line(line, sep) for _, line in data_lines]
    n_fields = len(names) if names else Counter(len(f) for f in data).most_common(1)[0][0]
    positions = _positions(where, f"{where}, line {first_no}", names, n_fields, columns)
    default = sep.join(["1", "31", "2.5", "1260759144"][:n_fields])
    return Layout(
        separator=sep,
        n_fields=n_fields,
        positions=positions,
        kinds=_kinds(data, positions),
        header=names,
        header_line=first_no if header else 0,
        example=data_lines[0][1][:80] if data_lines else default,
    )


def split_line(line: str, sep: str) -> list[str]:
    """The fields of one line, as pyarrow splits it (double quotes around a field)."""
    line = line.rstrip("\r\n")
    if sep == "::":  # ratings.dat has no quoting
        return line.split("::")
    return next(csv.reader([line], delimiter=sep, quotechar='"', doublequote=True), [""])


def _sniff_separator(where: str, lines: list[tuple[int, str]], suffix: str) -> str:
    best, best_score = None, 0.0
    hint = _SUFFIX_SEPARATORS.get(suffix)
    order = sorted(SEPARATORS, key=lambda s: s != hint)  # the suffix's first on a tie
    for sep in order:
        counts = [len(split_line(line, sep)) for _, line in lines]
        mode, n_mode = Counter(counts).most_common(1)[0]
        score = n_mode / len(counts) if mode >= 3 else 0.0
        if score > best_score:
            best, best_score = sep, score
    if best is None:
        shown = lines[0][1][:80]
        raise ValueError(
            f"{where}, line {lines[0][0]}: no separator splits the lines into 3 or more fields "
            f"(user, item, rating) as in {shown!r}; expected fields separated by one of "
            "',', tab, ';', '|' or '::' (pass sep= / --sep to name another)"
        )
    return best


def find_columns(where: str, names: list[str], columns: dict) -> dict:
    """Each role's column among ``names`` (a parquet file's): named by the caller (a name or
    a position) or guessed; ``None`` for a timestamp that is not there."""
    positions = _positions(where, where, tuple(names), len(names), columns)
    return {role: None if p is None else names[p] for role, p in zip(ROLES, positions, strict=True)}


def _positions(where, head, names, n_fields, columns) -> tuple:
    """User, item, rating, timestamp positions: named by the caller, or guessed.

    ``head`` starts the messages about the header (``"<file>, line 1"``).
    """
    if n_fields < 3:
        raise ValueError(
            f"{where}: lines of {n_fields} field(s); expected at least 3 (user, item, rating)"
        )
    given = {
        role: _named(where, head, role, columns[role], names, n_fields)
        for role in ROLES
        if columns.get(role) is not None
    }
    taken = set(given.values())
    out = []
    for k, role in enumerate(ROLES):
        if role in given:
            out.append(given[role])
        elif names is not None:
            out.append(_guessed(head, role, names, taken))
        elif role == "timestamp":  # MovieLens order: the 4th of 4 fields, where it is free
            out.append(k if n_fields == 4 and k not in taken else None)
        elif n_fields > 4 or k in taken:
            raise ValueError(
                f"{where}: {n_fields} fields per line and no header line, and no position for "
                f"the {ROLE_WORDS[role]}; expected 3 or 4 fields (user, item, rating"
                "[, timestamp]), or each column named by position (user=0, item=1, rating=2 "
                "/ --user-col 0 ...)"
            )
        else:
            out.append(k)
    chosen = [p for p in out if p is not None]
    if len(set(chosen)) != len(chosen):
        roles = {role: p for role, p in zip(ROLES, out, strict=True) if p is not None}
        raise ValueError(
            f"{where}: one column is taken for two roles ({roles}); expected a different "
            "column for each of user, item, rating and timestamp"
        )
    return tuple(out)


def _named(where, head, role, given, names, n_fields) -> int:
    option = f"{role}= / --{role}-col"
    if names is not None and str(given) in names:
        if names.count(str(given)) > 1:
            raise ValueError(
                f"{head}: column {str(given)!r} ({option}) appears more "
                f"than once in the header {list(names)}; expected one column of that name"
            )
        return names.index(str(given))
    if isinstance(given, int) or (isinstance(given, str) and given.strip().isdigit()):
        position = int(given)
        if 0 <= position < n_fields:
            return position
        raise ValueError(
            f"{where}: {option} {given!r} is not a column position: the lines have "
            f"{n_fields} fields (positions 0 to {n_fields - 1})"
        )
    if names is None:
        raise ValueError(
            f"{where}: {option} {given!r} names a column, but the file has no header line; "
            "expected a 0-based position (the first line is data), or pass header=True "
            "(--header) if line 1 is the header"
        )
    raise ValueError(f"{head}: no column {given!r} ({option}); the columns are {list(names)}")


def _guessed(head, role, names, taken) -> int | None:
    wanted = {_normal(n) for n in COLUMN_NAMES[role]}
    found = [k for k, n in enumerate(names) if _normal(n) in wanted and k not in taken]
    if len(found) == 1:
        return found[0]
    option = f"{role}= / --{role}-col"
    if len(found) > 1:
        which = [names[k] for k in found]
        if len(set(which)) == 1:
            raise ValueError(
                f"{head}: column {which[0]!r} appears more than once in {list(names)}; "
                f"expected one {ROLE_WORDS[role]} column (or name one by position with "
                f"{option})"
            )
        raise ValueError(
            f"{head}: columns {which} could each be the "
            f"{ROLE_WORDS[role]}; the columns are {list(names)}; name one with {option}"
        )
    if role == "timestamp":
        return None  # optional
    raise ValueError(
        f"{head}: no {ROLE_WORDS[role]} column among {list(names)}; "
        f"expected one named {', '.join(COLUMN_NAMES[role][:5])}, ... (or name it with "
        f"{option})"
    )


def _normal(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _kinds(data: list[list[str]], positions: tuple) -> tuple:
    """The type of each role's column, from the sample's lines."""

    def values(p):
        return [f[p] for f in data if p is not None and p < len(f)]

    kinds = []
    for role, p in zip(ROLES, positions, strict=True):
        vs = [v for v in values(p) if v.strip() not in MISSING]
        if role == "rating":
            kinds.append("float")
        elif role == "timestamp":
            kinds.append(None if p is None else _time_kind(vs))
        else:
            kinds.append("int" if all(is_int_id(v) for v in vs) else "str")
    return tuple(kinds)


def is_int(value: str) -> bool:
    """Whether a field reads as an int64 (as pyarrow reads one, less its exotic extras)."""
    return _INT_RE.fullmatch(value) is not None and abs(int(value)) <= _INT64_MAX


def is_int_id(value: str) -> bool:
    """Whether an id field reads as an integer id (a leading zero keeps it a string)."""
    return is_int(value) and _LEADING_ZERO_RE.match(value) is None


def _time_kind(values: list[str]) -> str:
    """``"int"`` (seconds since 1970), ``"datetime"`` or ``"datetime_tz"`` (ISO 8601 text,
    without or with a zone), as the first timestamp of the sample says."""
    if not values or _INT_RE.fullmatch(values[0]):
        return "int"
    if re.match(r"[ \t]*[0-9]{4}-[0-9]{2}-[0-9]{2}", values[0]):
        return "datetime_tz" if _ZONE_RE.search(values[0]) else "datetime"
    return "int"  # not a time at all: the reader names the line
