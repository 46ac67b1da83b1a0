/// The directory storage provider: tags, image metadata, kernels, profiles.
