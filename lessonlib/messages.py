"""The CLI's language: gettext catalogs under ``lessonlib/locale`` (``lessonlib.pot``, ``ko.po``).

English is the default. ``--lang ko``, ``LESSONLIB_LANG``, or the locale (``LANGUAGE``,
``LC_ALL``, ``LC_MESSAGES``, ``LANG``, in that order) switch to Korean. The ``.mo`` files are
compiled at set-up (``make i18n``); one that is missing or older than its ``.po`` is compiled in
memory with Babel, so a fresh checkout speaks Korean too. Messages are marked with ``_()``;
``N_()`` marks a string for extraction without translating it there.

Unless ``set_language`` was given a language, each message asks the environment again (a few
dict look-ups): a process whose environment is replaced after import — a check forked from
the warm worker (``check_worker._child``), a judge run under ``LESSONLIB_LANG=ko`` — speaks
the language its environment names now, not the one it had when ``_`` was first used.
"""

from __future__ import annotations

import gettext
import io
import os
from pathlib import Path

DOMAIN = "lessonlib"
LOCALE_DIR = Path(__file__).parent / "locale"
SUPPORTED = ("en", "ko")
_state: dict = {"explicit": None}
_loaded: dict[str, gettext.NullTranslations] = {}


def language_from_env(env: dict[str, str] | None = None) -> str:
    """``ko`` when the environment asks for Korean, else ``en``."""
    env = os.environ if env is None else env
    if env.get("LESSONLIB_LANG"):
        return normalize_language(env["LESSONLIB_LANG"])
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return normalize_language(value.split(":", 1)[0])
    return "en"


def normalize_language(text: str) -> str:
    """``ko_KR.UTF-8``, ``ko-KR`` and ``ko`` mean ``ko``; anything unsupported means ``en``."""
    head = text.strip().lower().replace("-", "_").split("_", 1)[0].split(".", 1)[0]
    return head if head in SUPPORTED else "en"


def _load(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    if not po.is_file():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def _translations(lang: str) -> gettext.NullTranslations:
    """``lang``'s catalog, loaded once per process."""
    if lang not in _loaded:
        _loaded[lang] = _load(lang)
    return _loaded[lang]


def set_language(lang: str | None) -> str:
    """Use ``lang`` (``en``/``ko``) for every message from now on; None: follow the environment
    (asked again at each message)."""
    _state["explicit"] = normalize_language(lang) if lang else None
    return current_language()


def current_language() -> str:
    """The language messages are in now: the one set, else the environment's."""
    return _state["explicit"] or language_from_env()


def _(message: str) -> str:
    """``message`` in the current language (itself when there is no translation)."""
    return _translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations(current_language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction; translate it later with ``_()``."""
    return message


# The verdict words (lessonlib.course.status.Status values), for extraction.
STATUS_WORDS = (
    N_("passed"),
    N_("failed"),
    N_("not started"),
    N_("syntax error"),
    N_("timed out"),
    N_("crashed"),
    N_("graded"),
)
