"""Translation between client formats and provider formats.

The gateway's canonical form is OpenAI's chat format: a client request in the
Anthropic or Gemini format becomes an OpenAI chat request (`*_request.to_openai`),
an adapter turns that into its provider's request (`*_request.from_openai`, the
OpenAI family needs nothing); answers come back the same way (`*_reply`), and
streams chunk by chunk (`*_stream`: provider events → OpenAI chunks → client
events). A client that speaks its provider's own format is relayed natively.
Pure functions and small state machines: no I/O.
"""
