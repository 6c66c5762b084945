"""Webhook URLs for every installed ESP: ``path("anymail/", include("anymail.urls"))``.

Each ESP contributes ``<esp id>/tracking/`` and/or ``<esp id>/inbound/`` (and any
extra routes it declares), named ``anymail:<esp id>_tracking_webhook`` etc. The
views are imported lazily, on their first request.
"""

from django.urls import URLPattern, path

from anymail.registry import LazyView, iter_routes

app_name = "anymail"


def build_urlpatterns() -> list[URLPattern]:
    return [
        path(f"{esp.id}/{route.path}", LazyView(route.view), name=f"{esp.id}_{route.name}")
        for esp, route in iter_routes()
    ]


urlpatterns = build_urlpatterns()
