"""The README's demo: send one message through Anymail's console backend and
print its anymail_status. Runs with only anymail-base installed."""

import django
from django.conf import settings

settings.configure(
    EMAIL_BACKEND="anymail.backends.console.EmailBackend",
    DEFAULT_FROM_EMAIL="Anymail Demo <demo@example.com>",
    INSTALLED_APPS=["anymail"],
    USE_TZ=True,
    ANYMAIL={
        "SEND_DEFAULTS": {
            "tags": ["demo"],
            "metadata": {"source": "README"},
            "track_opens": True,
        },
    },
)
django.setup()

from anymail.message import AnymailMessage  # noqa: E402 (needs settings)

message = AnymailMessage(
    subject="Hello from Anymail",
    body="It works! This message went through Anymail's console backend.",
    to=["Recipient <recipient@example.com>"],
    tags=["welcome"],
    metadata={"user_id": 8675309},
)
message.attach_alternative("<p>It <b>works</b>!</p>", "text/html")
message.send()

print("anymail_status:", message.anymail_status)
print("per recipient: ", message.anymail_status.recipients)
