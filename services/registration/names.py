"""Enterprise names as uniqueness sees them: two names that read the same are one name.

The key (``name_key``) is a skeleton in the sense of Unicode TR39 (Security Mechanisms, section 4): the name in
NFKC (full-width letters, digits and brackets made half-width), without white space, control or format
characters (zero-width space and joiners, word joiner, soft hyphen, bidi controls), and with every character
that TR39's confusables data maps to a Latin letter or digit replaced by it: Cyrillic а е о р с х у і ј ѕ һ ԁ,
their capitals and the Greek look-alikes, and ``0``/``O``, ``1``/``I``/``l`` as TR39 folds them. So
``江门市云帆科技有限公司`` with a zero-width space, a soft hyphen or a Cyrillic ``а`` collides with the name
without them.

``CONFUSABLES`` is a subset of confusables.txt (Unicode 15/16): the letters a name in this registry could be
spoofed with. A change to it changes the keys of names already held: add a migration revision that re-keys
``enterprise_name`` with the new table (spelled out in the revision, as 0003 does for this one).
"""

from __future__ import annotations

import unicodedata

# Character -> its TR39 prototype (confusables.txt, "MA" table).
CONFUSABLES: dict[str, str] = {
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "l", "Ј": "J", "Ү": "Y", "Ӏ": "l", "Ԝ": "W",
    # Cyrillic small letters
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i",
    "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ү": "y", "ӏ": "i", "ѵ": "v", "Ѵ": "V",
    # Greek capitals and small letters
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "l", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "γ": "y", "ι": "i", "ν": "v",
    "ο": "o", "ρ": "p", "σ": "o", "υ": "u",
    # Latin and digits TR39 folds together
    "0": "O", "1": "l", "I": "l", "|": "l",
}
_TABLE = str.maketrans(CONFUSABLES)
# Dropped from the key: controls, format characters (zero-width, joiners, soft hyphen, bidi), surrogates,
# private use and unassigned code points. A name with any of them is refused anyway; the key ignores them so
# that no way of writing one can pass as another.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def display_form(name: str) -> str:
    """A name as compared for length and for the words its type requires or forbids: NFKC, no white space."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def name_key(name: str) -> str:
    """The key uniqueness is decided on (the TR39 skeleton described above)."""
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", name)
                      if not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE)
    # NFKC again: a prototype is already in NFKC, but the NFD/NFKC steps of TR39 keep the key stable.
    return unicodedata.normalize("NFKC", visible.translate(_TABLE))
