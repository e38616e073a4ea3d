"""What a default command must not print: notices from libraries that a user of this project cannot act on."""

NOISE = (
    "💡 Tip",  # Lightning's litlogger / litmodels advertisements
    "weights_only",  # Lightning's note on every checkpoint it saves
    "LeafSpec",  # Lightning's use of a deprecated torch pytree API
    "wandb: Tracking run",  # W&B's banner for an offline run (the summary says where the run is)
    "wandb leet",
    "anonymous setting",  # W&B's notice for a setting Lightning used to pass
    "TCP without encryption",  # Jupyter's, for kernels on TCP (analysis kernels use local sockets)
    "Traceback",
)


def noise_in(output: str) -> list[str]:
    return [noise for noise in NOISE if noise in output]
