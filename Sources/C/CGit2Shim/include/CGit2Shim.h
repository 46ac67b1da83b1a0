// libgit2 option setters are variadic (git_libgit2_opts) and some structs need
// their *_INIT macros: typed wrappers here.
#pragma once
#include <git2.h>

int fb_git_clone_options_init(git_clone_options *opts);
int fb_git_checkout_options_init(git_checkout_options *opts);
int fb_git_fetch_options_init(git_fetch_options *opts);
const char *fb_git_last_error_message(void);
