"""The one redaction rule for text that may hold a database password (URLs, errors, logs)."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(://[^/@:?#\s]*:)[^@/?#\s]*@")
_PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&\s]*")


def redact(text: str) -> str:
    """``text`` with every URL password (``user:pw@`` or ``password=pw``) shown as ``***``.

    >>> redact("postgresql://app:s3cret@db/app?sslmode=require")
    'postgresql://app:***@db/app?sslmode=require'
    """
    return _PASSWORD_PARAM.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))
