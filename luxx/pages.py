"""Server-rendered pages of the browser UI.

The views stay thin: they render a template shell (layout, navigation, forms, translated
strings) that a small ES module hydrates by calling the same JSON API as every other
client, with the session cookie and the CSRF token. Only sign-in, registration and
sign-out are handled here, through ``accounts.services``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework import exceptions

from accounts import services, throttling
from accounts.models import User

BACKEND = "accounts.backends.LimitedModelBackend"

# Strings the scripts show, translated on the server and rendered into every page as
# JSON (one catalogue, no separate JavaScript build). Keys are stable identifiers.
JS_STRINGS: dict[str, Any] = {
    "network_error": _("The server could not be reached. Check your connection and try again."),
    "unexpected_error": _("Something went wrong. Please try again."),
    "session_expired": _("Your session has expired. Please sign in again."),
    "new_chat": _("New chat"),
    "untitled": _("Untitled"),
    "today": _("Today"),
    "yesterday": _("Yesterday"),
    "previous_7_days": _("Previous 7 days"),
    "older": _("Older"),
    "no_conversations": _("No conversations yet."),
    "no_matches": _("No conversations match."),
    "rename": _("Rename"),
    "delete": _("Delete"),
    "edit": _("Edit"),
    "save": _("Save"),
    "cancel": _("Cancel"),
    "confirm_delete_conversation": _("Delete this conversation? This cannot be undone."),
    "confirm_delete_agent": _("Delete this agent?"),
    "confirm_delete_room": _("Delete this room and its transcript?"),
    "confirm_delete_document": _("Delete this document from the knowledge base?"),
    "confirm_delete_provider": _("Delete this provider?"),
    "confirm_reset_room": _("Clear the transcript and start over?"),
    "thinking": _("Thinking"),
    "thinking_live": _("Thinking…"),
    "tool_call": _("Tool call"),
    "arguments": _("Arguments"),
    "result": _("Result"),
    "running": _("Running…"),
    "succeeded": _("Succeeded"),
    "failed": _("Failed"),
    "copy": _("Copy"),
    "copied": _("Copied"),
    "message_actions": _("Message actions"),
    "copy_message": _("Copy message"),
    "edit_message": _("Edit message"),
    "regenerate": _("Regenerate"),
    "version_k_of_n": _("Version {k} of {n}"),
    "previous_version": _("Previous version"),
    "next_version": _("Next version"),
    "save_and_send": _("Save and send"),
    "imported_n": _("Conversations imported: {n}."),
    "imported_some": _("Conversations imported: {n}; {skipped} could not be read."),
    "tokens": _("{n} tokens"),
    "status_stopped": _("Stopped"),
    "status_interrupted": _("Interrupted"),
    "status_error": _("Error"),
    "status_streaming": _("Generating…"),
    "retry": _("Retry"),
    "sources": _("Sources"),
    "page_n": _("page {n}"),
    "no_provider": _("No model provider yet. Add one in Settings to start chatting."),
    "open_settings": _("Open settings"),
    "default_model": _("Default"),
    "tools_none": _("No tools"),
    "tools_count": _("{n} tools"),
    "tool_not_allowed": _("Needs {level} permission"),
    "tool_unavailable": _("Unavailable: {reason}"),
    "you": _("You"),
    "assistant": _("Assistant"),
    "send": _("Send"),
    "attach_remove": _("Remove {name}"),
    "attach_wait": _("Wait for the files to finish uploading."),
    "enlarge_image": _("Enlarge {name}"),
    "open_document": _("Show the text of {name}"),
    "file_unavailable": _("This file is no longer available."),
    "loading": _("Loading…"),
    "stop": _("Stop"),
    "empty_chat_title": _("How can I help you today?"),
    "agent_chat": _("Chat"),
    "no_agents": _("No agents yet. Create one to reuse a role, a model and tools."),
    "new_agent": _("New agent"),
    "edit_agent": _("Edit agent"),
    "agent_saved": _("Agent saved."),
    "no_rooms": _("No rooms yet."),
    "room_status_idle": _("Idle"),
    "room_status_running": _("Running"),
    "room_status_paused": _("Paused"),
    "room_status_completed": _("Completed"),
    "room_status_error": _("Error"),
    "round_n": _("Round {n}"),
    "round_of": _("Round {n} of {max}"),
    "room_completed": _("The discussion is complete."),
    "room_completed_because": _("The discussion is complete: {reason}."),
    "room_status_waiting": _("Waiting for you"),
    "reason_max_rounds": _("the last round was spoken"),
    "reason_max_messages": _("the message limit was reached"),
    "reason_text_mention": _("the closing phrase was said"),
    "reason_token_budget": _("the token budget was spent"),
    "reason_timeout_seconds": _("the time limit passed"),
    "reason_all": _("all of its conditions held"),
    "reason_moderator": _("the moderator ended it"),
    "reason_usage_limit": _("a usage limit was reached"),
    "speaker_selected": _("{agent} speaks next. {reason}"),
    "selected_picked": _("{agent} speaks next: picked by the selector."),
    "selected_no_answer": _("{agent} speaks next: the selector gave no answer, so turn order decides."),
    "selected_unknown_name": _("{agent} speaks next: nobody of the room was named, so turn order decides."),
    "selected_repeat": _("{agent} speaks next: the pick would have repeated the last speaker, so turn order decides."),
    "selected_selector_failed": _("{agent} speaks next: the selector failed, so turn order decides."),
    "selected_no_selector": _("{agent} speaks next: there is no selector model, so turn order decides."),
    "selected_mentioned": _("{agent} speaks next: they were @-named."),
    "selected_no_mention": _("{agent} speaks next: nobody was @-named, so turn order decides."),
    "selected_moderator_opens": _("{agent} opens the discussion as its moderator."),
    "selected_moderator_turn": _("{agent} moderates after that turn."),
    "selected_moderator_named": _("{agent} speaks next: named by the moderator."),
    "human_asked": _("Your turn: the agents are waiting for you."),
    "human_asked_by": _("{agent} asks for you: the agents are waiting for your answer."),
    "summary_by": _("Summary by {agent}"),
    "room_paused": _("Paused. Resume to continue."),
    "agent_error": _("{agent} could not answer: {error}"),
    "agent_no_provider": _("This agent has no usable model provider or model."),
    "resume": _("Resume"),
    "start": _("Start"),
    "reset": _("Reset"),
    "task": _("Task"),
    "pick_agents": _("Pick at least one agent or add one inline."),
    "remove": _("Remove"),
    "name": _("Name"),
    "role": _("Role"),
    "color": _("Colour"),
    "model": _("Model"),
    "no_documents": _("No documents yet. Drop files here to add them."),
    "status_processing": _("Processing"),
    "status_ready": _("Ready"),
    "uploading": _("Uploading…"),
    "chunks_n": _("Chunks: {n}"),
    "no_results": _("Nothing found."),
    "score": _("score {n}"),
    "all_documents": _("All documents"),
    "no_agent": _("No agent (all chats)"),
    "no_providers": _("No providers yet. Pick a preset below to add one."),
    "make_default": _("Make default"),
    "is_default": _("Default"),
    "test_connection": _("Test"),
    "testing": _("Testing…"),
    "has_key": _("Key saved"),
    "no_key": _("No key"),
    "shared": _("Shared"),
    "key_placeholder_keep": _("Leave empty to keep the saved key"),
    "provider_saved": _("Provider saved."),
    "edit_provider": _("Edit provider"),
    "add_provider": _("Add provider"),
    "level_1": _("Read only"),
    "level_2": _("Write"),
    "level_3": _("Execute"),
    "level_4": _("Administrator"),
    "role_admin": _("Administrator"),
    "role_user": _("User"),
    "category_code": _("Code"),
    "category_file": _("Files"),
    "category_shell": _("Shell"),
    "category_crawler": _("Web"),
    "category_data": _("Data"),
    "category_knowledge": _("Knowledge"),
    "usage_detail": _("prompt {prompt} · completion {completion}"),
    "code": _("code"),
    "http_status": _("HTTP {n}"),
    "remove_key": _("Remove key"),
    "confirm_remove_key": _("Remove the saved API key of this provider?"),
    "key_removed": _("The API key was removed."),
    "load_more": _("Show more"),
    "document_not_found": _("That document is no longer in the knowledge base."),
    "cited_passage": _("Cited passage"),
    "chunks": _("Chunks"),
    "chunks_of": _("Chunks of {name}"),
    "chunks_shown": _("{shown} of {total} chunks"),
    "show_chunks": _("Show chunks"),
    "hide_chunks": _("Hide chunks"),
    "loading_chunks": _("Loading chunks…"),
    "no_chunks": _("No chunks yet."),
    "about_tokens": _("about {n} tokens"),
    "dark": _("Dark"),
    "light": _("Light"),
    "agent_label": _("Agent"),
    "searching": _("Searching…"),
    "category_mcp": _("MCP servers"),
    "no_mcp_servers": _("No MCP servers yet. Add one below."),
    "mcp_status_ok": _("Reachable"),
    "mcp_status_down": _("Unreachable"),
    "mcp_status_unknown": _("Not checked yet"),
    "mcp_tools_n": _("{n} tools"),
    "mcp_refresh": _("Refresh tools"),
    "mcp_refreshing": _("Refreshing…"),
    "mcp_found_n": _("{name}: {n} tools found."),
    "mcp_saved": _("MCP server saved."),
    "mcp_add": _("Add server"),
    "mcp_edit": _("Edit MCP server"),
    "mcp_disabled": _("Disabled"),
    "mcp_headers_saved": _("Headers: {names}"),
    "mcp_env_saved": _("Environment: {names}"),
    "mcp_keep_secret": _("Leave empty to keep what is saved"),
    "mcp_confirm_delete": _("Remove this MCP server? Its tools disappear from every chat and agent."),
    "mcp_bad_line": _("{field}: each line must look like {example}."),
    "mcp_network": _("Network"),
    "mcp_level": _("Needs level {level}"),
    "mcp_headers_label": _("Headers"),
    "mcp_env_label": _("Environment"),
    "no_mcp_tokens": _("No tokens yet."),
    "mcp_token_meta": _("made {created} · last used {used} · expires {expires}"),
    "mcp_never": _("never"),
    "mcp_revoke": _("Revoke"),
    "mcp_confirm_revoke": _("Revoke this token? MCP clients using it stop working."),
    "mcp_copied": _("Copied."),
    "retrying": _("Retrying… (attempt {n} of {max})"),
    "conversation_usage": _("{tokens} tokens · {cost}"),
}


def _page(request: HttpRequest, template: str, active: str, **context: Any) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    context.update(
        active=active,
        js_strings=JS_STRINGS,
        luxx_user={"id": user.pk, "username": user.username, "role": user.role, "permission_level": user.permission_level},
    )
    return render(request, template, context)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username or email"), max_length=254)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput)


class RegisterForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    email = forms.EmailField(label=_("Email"), max_length=254)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput, max_length=128)
    password_confirm = forms.CharField(label=_("Confirm password"), strip=False, widget=forms.PasswordInput, max_length=128)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password, confirmation = data.get("password"), data.get("password_confirm")
        if password and confirmation and password != confirmation:
            self.add_error("password_confirm", _("The two passwords do not match."))
        if data.get("username") and data.get("email") and password:
            # Every problem at once: a short password is shown beside a mismatched
            # confirmation, not only after the confirmation is fixed.
            try:
                services.user_check_registration(username=data["username"], email=data["email"], password=password)
            except exceptions.ValidationError as error:
                _add_api_errors(self, error)
        return data


def _too_many_attempts(wait: float) -> str:
    return _("Too many attempts from your address. Try again in %(seconds)s seconds.") % {"seconds": int(wait) + 1}


def _add_api_errors(form: forms.Form, error: exceptions.ValidationError) -> None:
    """Put a service's validation error on the form's fields (the rest on the form)."""
    detail = error.detail if isinstance(error.detail, dict) else {"__all__": error.detail}
    for field, messages in detail.items():
        target = field if field in form.fields else None
        for message in messages if isinstance(messages, list) else [messages]:
            form.add_error(target, str(message))


@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_next_url(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and (wait := throttling.address_throttle_wait(request)) is not None:
        form.is_valid()  # a bound, cleaned form can carry one more error
        form.add_error(None, _too_many_attempts(wait))
        status = 429
    elif request.method == "POST" and form.is_valid():
        try:
            user = services.user_authenticate(identifier=form.cleaned_data["username"], password=form.cleaned_data["password"])
        except throttling.AccountLocked as error:
            form.add_error(None, error.luxx_message)
            status = 429
        except exceptions.AuthenticationFailed:
            form.add_error(None, _("Wrong username or password."))
        else:
            login(request, user, backend=BACKEND)
            return HttpResponseRedirect(_next_url(request))
    return render(request, "auth/login.html", {"form": form, "next": _next_url(request)}, status=status)


@require_http_methods(["GET", "POST"])
def register_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect("/")
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and (wait := throttling.address_throttle_wait(request)) is not None:
        form.is_valid()
        form.add_error(None, _too_many_attempts(wait))
        return render(request, "auth/register.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_register(
                username=form.cleaned_data["username"], email=form.cleaned_data["email"], password=form.cleaned_data["password"]
            )
        except exceptions.ValidationError as error:
            _add_api_errors(form, error)
        except exceptions.APIException as error:
            form.add_error(None, str(error.detail))
        else:
            login(request, user, backend=BACKEND)
            return redirect("/")
    return render(request, "auth/register.html", {"form": form})


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/login/")


@login_required
def chat_page(request: HttpRequest, conversation_id: str = "") -> HttpResponse:
    return _page(request, "chat.html", "chat", conversation_id=conversation_id)


@login_required
def agents_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "agents.html", "agents")


@login_required
def rooms_page(request: HttpRequest, room_id: str = "") -> HttpResponse:
    return _page(request, "rooms.html", "rooms", room_id=room_id)


@login_required
def knowledge_page(request: HttpRequest) -> HttpResponse:
    from knowledge.segment import STOPWORDS

    # The search's stopwords, so that the page highlights the words the search used.
    return _page(request, "knowledge.html", "knowledge", stopwords=sorted(STOPWORDS))


# The Usage page's own strings (static/js/usage.js).
USAGE_STRINGS: dict[str, Any] = {
    "tokens": _("Tokens"),
    "cost": _("Cost"),
    "calls": _("Calls"),
    "prompt": _("Prompt"),
    "completion": _("Completion"),
    "cached": _("Cached"),
    "unpriced": _("{n} calls of models without a price (counted at 0)"),
    "no_usage": _("No usage in this period."),
    "no_limits": _("No limits apply to you."),
    "limit_tokens_per_day": _("Tokens per day"),
    "limit_tokens_per_month": _("Tokens per month"),
    "limit_cost_per_day": _("Cost per day"),
    "limit_cost_per_month": _("Cost per month"),
    "limit_concurrent_streams": _("Replies at once"),
    "limit_requests_per_minute": _("Chat requests per minute"),
    "limit_used": _("{used} of {value} used"),
    "limit_resets": _("resets {at}"),
}


@login_required
def usage_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "usage.html", "usage", usage_strings=USAGE_STRINGS)


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    return _page(request, "settings.html", "settings")
