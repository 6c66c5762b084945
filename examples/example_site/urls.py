"""Anymail's webhooks under /anymail/ (``manage.py anymail_webhook_urls`` lists them)."""

from django.urls import include, path

urlpatterns = [
    path("anymail/", include("anymail.urls")),
]
