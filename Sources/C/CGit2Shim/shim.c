#include "CGit2Shim.h"

int fb_git_clone_options_init(git_clone_options *opts) { return git_clone_options_init(opts, GIT_CLONE_OPTIONS_VERSION); }
int fb_git_checkout_options_init(git_checkout_options *opts) { return git_checkout_options_init(opts, GIT_CHECKOUT_OPTIONS_VERSION); }
int fb_git_fetch_options_init(git_fetch_options *opts) { return git_fetch_options_init(opts, GIT_FETCH_OPTIONS_VERSION); }
const char *fb_git_last_error_message(void) {
    const git_error *e = git_error_last();
    return (e && e->message) ? e->message : "unknown libgit2 error";
}
