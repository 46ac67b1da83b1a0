/// Images without a daemon: references, registry client, archives, content store, layer application.
