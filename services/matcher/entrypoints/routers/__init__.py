"""The buyer API's routers, one module per resource (as the FastAPI full-stack template's ``api/routes``):
``auth`` (signing in to the pages), ``suppliers``, ``notices``, ``pages`` (the ``/ui`` pages); ``deps`` holds
what they depend on (the container, the key gate, the caller)."""
