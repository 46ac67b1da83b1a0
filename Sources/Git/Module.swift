/// git through libgit2: clone and checkout of Dockerfile sources and kernel trees.
