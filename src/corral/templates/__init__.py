"""Template builds (E2B's template-manager role): build specs, images, artifacts, built templates.

The API accepts a build (E2B's v2 steps or a legacy Dockerfile) and hands it to an orchestrator;
the orchestrator's builder turns it into an image with buildah, exports the image's root
filesystem as a template the runtime starts sandboxes from, and checks the start and ready
commands in a real sandbox. Files that COPY steps need travel through the artifact store.
"""
