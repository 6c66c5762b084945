"""The URLconf of the suite's standalone settings: Anymail's webhooks under anymail/."""

from django.urls import include, path

urlpatterns = [path("anymail/", include("anymail.urls"))]
