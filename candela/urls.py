"""URL map: each app's pages and API router, assembled here."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from audit import views as audit_views
from candela.api import api
from candela.health import healthz
from governance import views

dashboard = [
    path("", views.overview, name="dashboard"),
    path("feed/", audit_views.feed_rows, name="dashboard-feed"),
    path("users/", views.users, name="dashboard-users"),
    path("users/<int:user_id>/budget/", views.user_budget, name="dashboard-user-budget"),
    path("keys/", views.keys, name="dashboard-keys"),
    path("keys/<int:key_id>/policy/", views.key_policy, name="dashboard-key-policy"),
    path("keys/<int:key_id>/revoke/", views.key_revoke, name="dashboard-key-revoke"),
    path("grants/", views.grants, name="dashboard-grants"),
    path("settings/", views.tenant_settings, name="dashboard-settings"),
]

me = [
    path("", views.me, name="me"),
    path("keys/", views.me_mint_key, name="me-mint-key"),
    path("keys/<int:key_id>/revoke/", views.me_revoke_key, name="me-revoke-key"),
]

accounts = [
    # Django's views with our templates; password reset needs mail, so it is left out.
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="me"), name="home"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("api/v1/", api.urls),
    path("dashboard/", include(dashboard)),
    path("me/", include(me)),
]
