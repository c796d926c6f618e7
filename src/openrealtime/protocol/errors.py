"""Errors a client can cause, and how they travel back.

Two kinds of failure exist (h11 draws the same line between remote and local errors):

* ``ClientError``: the client sent something we refuse. It becomes an ``error`` event with
  OpenAI's shape (``type``, ``code``, ``message``, ``param``, ``event_id``) and the session goes on.
* Anything else raised inside the server is *our* bug. The owner logs it, counts it and closes
  the session cleanly; it never reaches the client as a protocol error.
"""

from __future__ import annotations

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"

# Codes that OpenAI uses and that clients special-case (EVENTS.md §3.1).
ACTIVE_RESPONSE = "conversation_already_has_active_response"
CANCEL_NOT_ACTIVE = "response_cancel_not_active"
COMMIT_EMPTY = "input_audio_buffer_commit_empty"
TRUNCATE_INVALID_ITEM = "item_truncate_invalid_item_id"
DELETE_INVALID_ITEM = "item_delete_invalid_item_id"
RETRIEVE_INVALID_ITEM = "item_retrieve_invalid_item_id"
UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
CANNOT_UPDATE_VOICE = "cannot_update_voice"
MISSING_PARAMETER = "missing_required_parameter"
UNKNOWN_PARAMETER = "unknown_parameter"
INVALID_VALUE = "invalid_value"
INVALID_TYPE = "invalid_type"
INVALID_EVENT = "invalid_event"
INVALID_JSON = "invalid_json"


class ClientError(Exception):
    """A request the server refuses; answered with an ``error`` event, never fatal."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = INVALID_VALUE,
        param: str | None = None,
        type: str = INVALID_REQUEST,
        event_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.type = type
        self.event_id = event_id
