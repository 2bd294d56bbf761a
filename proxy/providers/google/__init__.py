"""Google: the Gemini API (``gemini/<model>``) and Vertex AI (``vertex_ai/<model>``).

Imagen models answer ``:predict``; Gemini models answer ``:generateContent`` and
``:streamGenerateContent?alt=sse``. The model family, read from the id, picks the API.
"""
