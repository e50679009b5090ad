"""Email identity: the one canonical form of an address, and the characters refused in one.

Two addresses that read the same are one account. The canonical form is
NFKC (fullwidth letters U+FF41..., mathematical bold U+1D41A..., the ``ﬁ`` ligature and NFD
accents become their plain forms), lower case (``str.lower``, not
``casefold``: ``ß`` stays distinct from ``ss``, as it was), the domain's
IDNA A-labels (``xn--...``) decoded to Unicode and the IDNA dot variants
(U+3002, U+FF0E, U+FF61) made ``.``. Invisible and control characters (Unicode
categories Cc, Cf, Co, Cs, Cn, Zl, Zp, and spaces other than U+0020) are
refused rather than removed, so nobody can register a look-alike of an
address.

The released migration ``auth_0002_normalise_emails`` applies this rule to
stored rows. Changing the rule therefore needs a new revision, and the rule
as ``auth_0002`` knew it must first be frozen into a module of its own that
that revision imports instead (a released migration never changes).
"""

from __future__ import annotations

import encodings.idna
import unicodedata

from riso_auth._exceptions import InvalidEmailError

#: control, format (zero-width space, soft hyphen, bidi marks...), private use,
#: surrogates, unassigned, line and paragraph separators, spaces
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"})
#: what IDNA (UTS #46) treats as a label separator besides "."
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def refused_character(text: str) -> str | None:
    """A description of the first refused character of ``text``, or None."""
    for char in text:
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES and char != " ":
            name = unicodedata.name(char, f"category {category}")
            return f"U+{ord(char):04X} {name}"
    return None


def normalize_email(email: str) -> str:
    """The canonical form of ``email``; InvalidEmailError (a ValueError) saying what to fix.

    Idempotent: the canonical form of a canonical form is itself.
    """
    text = email.strip()
    refused = refused_character(text)
    if refused is not None:
        raise InvalidEmailError(
            f"contains an invisible or control character ({refused}); remove it"
        )
    # lower() after NFKC can yield text NFKC changes again (and the other way round)
    for _ in range(4):
        canonical = unicodedata.normalize("NFKC", text).lower().translate(_DOTS)
        if canonical == text:
            break
        text = canonical
    if refused_character(text) is not None or " " in text:
        raise InvalidEmailError("contains a space or an invisible character once normalised")
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    return f"{local}@{_unicode_domain(domain)}"


def _unicode_domain(domain: str) -> str:
    labels = []
    for label in domain.split("."):
        if label.startswith("xn--"):
            try:
                label = encodings.idna.ToUnicode(label)
            except UnicodeError:
                raise InvalidEmailError(
                    f"the domain label {label!r} is not valid IDNA (punycode)"
                ) from None
            label = unicodedata.normalize("NFKC", label).lower()
            if refused_character(label) is not None:
                raise InvalidEmailError("the domain decodes to an invisible or control character")
        labels.append(label)
    return ".".join(labels)
