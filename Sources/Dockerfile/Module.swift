/// Dockerfile front end: parser, word expansion, typed instructions, stages, image config, .dockerignore.
