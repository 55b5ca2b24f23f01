"""SQL building blocks shared by the standardisers: the one place that knows the dialect.

Every standardiser composes its expressions from the helpers below, so dialect
differences live here and nowhere else. The generated SQL is DuckDB dialect and, apart
from the spots marked *DuckDB-only*, uses functions that also exist in Spark SQL with
the same meaning (``regexp_replace``, ``regexp_extract``, ``translate``, ``substr``,
``length``, ``lower``/``upper``, ``lpad``/``rpad``, ``try_cast``, ``CASE``), so SQLGlot
can transpile it.

Dialect notes (DuckDB → Spark), all confined to this module:

* ``regexp_replace(s, p, r, 'g')`` — DuckDB replaces only the first match unless given
  the ``'g'`` flag; Spark always replaces every match and takes no flag argument.
* ``regexp_matches(s, p)`` (unanchored search) is ``s RLIKE p`` / ``regexp_like`` in Spark.
* Regular expressions use the syntax common to RE2 (DuckDB) and java.util.regex (Spark):
  ``\\x{FF01}`` code-point escapes, ``\\p{L}``/``\\p{Z}`` classes, no look-around;
  back-references only in ``re_rewrite`` (DuckDB ``\\1``, Spark ``$1``). ``\\s`` is
  avoided where Java and RE2 disagree (``\\x0B``).
* ``regexp_extract`` group numbers are limited to 0–9 in DuckDB.
* ``rtrim(s, chars)`` (``rtrim_chars``) is ``TRIM(TRAILING chars FROM s)`` in Spark.
* String literals: DuckDB keeps backslashes literally; Spark SQL treats them as escapes
  unless ``spark.sql.parser.escapedStringLiterals`` is on — SQLGlot doubles them when it
  generates Spark SQL.
"""

from __future__ import annotations

from collections.abc import Iterable

# --------------------------------------------------------------------------- literals


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def lit_list(values: Iterable[str]) -> str:
    """``('a', 'b', …)`` for ``IN``; ``(NULL)`` when empty (``x IN (NULL)`` is never true)."""
    items = [lit(v) for v in values]
    return "(" + (", ".join(items) or "NULL") + ")"


# ----------------------------------------------------------------- regular expressions

# Whitespace as the standardisers understand it: ASCII controls \t \n \v \f \r, every
# Unicode space separator (Zs/Zl/Zp: U+00A0, U+3000 ideographic space, …), NEL and the
# invisible zero-width characters that spreadsheets and WeChat copy-paste leave behind.
WS_CLASS = r"[\x{0009}-\x{000D}\p{Z}\x{0085}\x{200B}-\x{200D}\x{2060}\x{FEFF}]"
# The non-Z members of that set, for Python code (the reference implementation).
WS_CHARS_EXTRA = "\t\n\x0b\x0c\r\x85\u200b\u200c\u200d\u2060\ufeff"
# Every character of WS_CLASS, listed (Unicode's Z category has been stable since 6.0).
WS_CHARS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200E))
    + "\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)


def re_matches(expr: str, pattern: str) -> str:
    """TRUE when ``pattern`` matches somewhere in ``expr`` (anchor it with ^…$ for a full match)."""
    return f"regexp_matches({expr}, {lit(pattern)})"


def re_replace(expr: str, pattern: str, replacement: str = "") -> str:
    """Replace every match of ``pattern`` (no back-references in ``replacement``; see
    ``re_rewrite``)."""
    if "\\" in replacement or "$" in replacement:
        raise ValueError("replacement must not use back-references (dialects differ)")
    return f"regexp_replace({expr}, {lit(pattern)}, {lit(replacement)}, 'g')"  # DuckDB: 'g'


def re_group(expr: str, pattern: str, group: int) -> str:
    """Text of capture ``group`` of the first match; '' when no match or group unused.

    DuckDB accepts group numbers 0–9 only, so patterns keep at most 9 groups.
    """
    if not 0 <= group <= 9:
        raise ValueError("regexp_extract groups are limited to 0-9 in DuckDB")
    return f"regexp_extract({expr}, {lit(pattern)}, {group})"


def re_groups(expr: str, pattern: str, groups: int) -> list[str]:
    """Expressions for capture groups 1..``groups`` of one pattern.

    One ``regexp_extract`` per group (portable; DuckDB has a struct-returning form,
    Spark does not). Each is a separate regex run unless DuckDB's common
    sub-expression elimination merges them (see ``Standardiser._warm_up``); prefer
    ``re_rewrite`` into a canonical form where the parse is more than a couple of groups.
    """
    return [re_group(expr, pattern, g) for g in range(1, groups + 1)]


def re_rewrite(expr: str, pattern: str, template: str) -> str:
    """Rewrite a whole-string match of ``pattern`` as ``template``; other text unchanged.

    ``template`` refers to groups as ``{1}``…``{9}``. *Dialect-specific:* DuckDB (RE2)
    writes group references as ``\\1``, Spark (Java) as ``$1``; this is the only helper
    that needs back-references.
    """
    body = template.replace("\\", "\\\\")
    for g in range(1, 10):
        body = body.replace("{" + str(g) + "}", "\\" + str(g))
    return f"regexp_replace({expr}, {lit(pattern)}, {lit(body)})"  # first match only


def trim_ws(expr: str) -> str:
    """Strip leading and trailing whitespace (Unicode aware, unlike SQL ``trim``)."""
    return re_replace(expr, f"^{WS_CLASS}+|{WS_CLASS}+$")


def rtrim_chars(expr: str, chars: str) -> str:
    """Remove trailing characters in ``chars``. *Dialect-specific:* DuckDB
    ``rtrim(s, chars)`` is ``TRIM(TRAILING chars FROM s)`` in Spark."""
    return f"rtrim({expr}, {lit(chars)})"


def collapse_ws(expr: str, to: str = " ") -> str:
    """Replace every run of whitespace by ``to``."""
    return re_replace(expr, f"{WS_CLASS}+", to)


# ----------------------------------------------------------------------- translations

FULLWIDTH_ASCII = "".join(chr(c) for c in range(0xFF01, 0xFF5F))  # ！ … ～
HALFWIDTH_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))  # ! … ~


def fullwidth_map(ascii_chars: str | None = None) -> dict[str, str]:
    """Full-width → ASCII for the given ASCII characters (all printable ASCII by default).

    The ideographic space U+3000 maps to a plain space when ``ascii_chars`` includes ' '.
    """
    wanted = HALFWIDTH_ASCII + " " if ascii_chars is None else ascii_chars
    mapping = {f: h for f, h in zip(FULLWIDTH_ASCII, HALFWIDTH_ASCII, strict=True) if h in wanted}
    if " " in wanted:
        mapping["\u3000"] = " "
    return mapping


def translate(expr: str, mapping: dict[str, str]) -> str:
    """Single-character replacement (``translate``); an empty target deletes the character."""
    keep = {k: v for k, v in mapping.items() if v}
    drop = [k for k, v in mapping.items() if not v]
    src = "".join(keep) + "".join(drop)
    dst = "".join(keep.values())
    return f"translate({expr}, {lit(src)}, {lit(dst)})"


def _class_char(cp: int) -> str:
    ch = chr(cp)
    if cp > 0x7F and ch.isprintable() and not ch.isspace():
        return ch  # literal: 3 bytes for a CJK character instead of 8 for \x{…}
    return f"\\x{{{cp:04X}}}"


def char_class(chars: Iterable[str]) -> str:
    """A regex character class matching exactly the given characters (runs as ranges)."""
    points = sorted({ord(c) for c in chars})
    out, i = [], 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        first, last = points[i], points[j]
        if j - i >= 2:
            out.append(f"{_class_char(first)}-{_class_char(last)}")
        else:
            out.extend(_class_char(points[k]) for k in range(i, j + 1))
        i = j + 1
    return "[" + "".join(out) + "]"


def guarded_translate(expr: str, mapping: dict[str, str], guard: str | None = None, guard_chars: str = "") -> str:
    """``translate`` run only on rows containing a character to map.

    DuckDB rebuilds the translation table for every row, so an unguarded ``translate``
    costs time proportional to the table on every row; the guard (one regex) makes
    rows without such characters nearly free. ``guard`` is the expression searched
    (default ``expr``); pass a shorter one holding the same characters, such as the
    raw input, to keep the SQL small; ``guard_chars`` are further characters that
    count (e.g. full-width forms that an earlier step folds into mapped ones).
    """
    if not mapping:
        return expr
    if guard is None:
        return f"CASE WHEN {re_matches(expr, char_class(mapping))} THEN {translate(expr, mapping)} ELSE {expr} END"
    # With a separate guard, ``expr`` need appear only once: an empty source list makes
    # translate a no-op (extra target characters are ignored, in Spark too).
    keep = {k: v for k, v in mapping.items() if v}
    src = "".join(keep) + "".join(k for k, v in mapping.items() if not v)
    dst = "".join(keep.values())
    cls = char_class([*mapping, *guard_chars])
    return f"translate({expr}, CASE WHEN {re_matches(guard, cls)} THEN {lit(src)} ELSE '' END, {lit(dst)})"


def bucketed_translate(expr: str, guard_expr: str, mapping: dict[str, str], buckets: int = 32) -> str:
    """Translate with a large mapping (thousands of characters) at a sensible cost.

    The mapping is split into ``buckets`` slices; each slice's ``translate`` gets its
    source characters only when ``guard_expr`` (a short expression containing at least
    the characters of ``expr`` that need mapping, typically the raw input) contains one
    of them, otherwise an empty source list, which makes it a no-op. ``expr`` appears
    once, so the SQL stays linear in size. The whole chain is skipped for rows without
    any character to map. Requires a mapping without chains (no target is also a source).
    """
    keys = sorted(mapping)
    if any(mapping[k] in mapping for k in keys):
        raise ValueError("bucketed_translate needs a mapping without chains")
    size = max(1, -(-len(keys) // buckets))
    out = expr
    for i in range(0, len(keys), size):
        part = keys[i : i + size]
        src = "".join(part)
        dst = "".join(mapping[k] for k in part)
        src_sql = f"CASE WHEN {re_matches(guard_expr, char_class(part))} THEN {lit(src)} ELSE '' END"
        out = f"translate({out}, {src_sql}, {lit(dst)})"
    return f"CASE WHEN {re_matches(guard_expr, char_class(keys))} THEN {out} ELSE {expr} END"


# ------------------------------------------------------------------------------ casts


def try_cast(expr: str, sql_type: str) -> str:
    return f"TRY_CAST({expr} AS {sql_type})"


def cast(expr: str, sql_type: str) -> str:
    return f"CAST({expr} AS {sql_type})"


def date_literal(value) -> str:  # noqa: ANN001 - datetime.date or datetime.datetime
    """``DATE '2024-01-05'`` / ``TIMESTAMP '2024-01-05 10:22:00'``."""
    if hasattr(value, "hour"):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    return f"DATE '{value.isoformat()}'"
