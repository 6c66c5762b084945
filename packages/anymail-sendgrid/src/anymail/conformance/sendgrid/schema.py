"""Checking captured Mail Send requests against SendGrid's own OpenAPI description.

``tsg_mail_v3.json`` beside this module is SendGrid's published description of the
v3 Mail Send API (see NOTICE.md). The fake API of the conformance profile refuses
any request that violates it, the way SendGrid answers 400, and reports each
violation, so a test can't pass with a request SendGrid would refuse.

Needs ``jsonschema`` (in anymail-sendgrid's ``test`` extra).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

__all__ = ["SPEC_PATH", "mail_send_violations"]

SPEC_PATH = Path(__file__).with_name("tsg_mail_v3.json")
_SPEC_URI = "urn:sendgrid:tsg_mail_v3"
#: The request body schema of POST /v3/mail/send, as a JSON pointer into the spec.
_BODY_SCHEMA = "#/components/requestBodies/PostMailSend/content/application~1json/schema"


@functools.cache
def _validator() -> Any:
    try:
        from jsonschema import Draft202012Validator, FormatChecker
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
    except ImportError as err:  # pragma: no cover - in the test extra
        raise ImportError(
            "Checking SendGrid requests against its OpenAPI description needs jsonschema: "
            'pip install "anymail-sendgrid[test]"'
        ) from err
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; the spec's own "#/components/..."
    # references resolve inside the registered document.
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource(_SPEC_URI, resource)
    return Draft202012Validator(
        {"$ref": _SPEC_URI + _BODY_SCHEMA}, registry=registry, format_checker=FormatChecker()
    )


def mail_send_violations(body: Any) -> list[str]:
    """Each way ``body`` (a parsed Mail Send JSON body) breaks SendGrid's schema, as
    "path: message" (empty if it is valid)."""
    return [
        f"{'.'.join(str(part) for part in error.absolute_path) or '(body)'}: {error.message}"
        for error in sorted(_validator().iter_errors(body), key=lambda e: list(e.absolute_path))
    ]
