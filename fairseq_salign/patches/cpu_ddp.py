"""Let fairseq's default DDP backend (c10d) run on CPU processes (gloo).

fairseq always passes ``device_ids=[device_id]`` to torch's DistributedDataParallel, which torch
rejects for CPU modules, so ``fairseq-train --cpu`` cannot train data-parallel at all. We give
fairseq's wrapper a DistributedDataParallel that drops the device arguments for CPU modules and
is otherwise torch's own class: GPU training is unchanged.
"""
from torch.nn.parallel import DistributedDataParallel


class DeviceAwareDistributedDataParallel(DistributedDataParallel):
    def __init__(self, module, device_ids=None, output_device=None, **kwargs):
        first = next(module.parameters(), None)
        if first is not None and first.device.type == "cpu":
            device_ids, output_device = None, None
        super().__init__(module, device_ids=device_ids, output_device=output_device, **kwargs)


def install() -> None:
    from fairseq.models import distributed_fairseq_model

    distributed_fairseq_model.DistributedDataParallel = DeviceAwareDistributedDataParallel
