#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimg.imaging maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Gather NVIDIA GPU facts through NVML, or nvidia-smi without it
version_added: 1.0.0
description:
  - Reads the NVIDIA driver and every GPU of the managed host through NVML, the library
    behind C(nvidia-smi), with the C(nvidia-ml-py) binding (Python module C(pynvml)).
  - Without the binding it falls back to C(nvidia-smi --query-gpu ... --format=csv).
  - It never fails a play because a host has no GPU. With no NVML library, a library but no
    loaded driver, no device, or neither the binding nor C(nvidia-smi), it returns
    RV(ansible_facts.gpu_present=false) with the reason in RV(ansible_facts.gpu_reason).
  - A field a GPU does not support (fan speed on an H100, ECC on a consumer card) is null,
    not an error.
  - It never changes anything on the host.
author:
  - medimg.imaging maintainers (@medimg)
requirements:
  - On the managed host, C(nvidia-ml-py) (C(pip install nvidia-ml-py)), or C(nvidia-smi) from
    the NVIDIA driver. The Debian package C(python3-pynvml) (contrib) provides the same module.
options:
  backend:
    description:
      - How to read the GPUs.
      - V(auto) uses NVML when the C(pynvml) module imports and C(nvidia-smi) otherwise.
      - V(nvml) needs the C(pynvml) module and fails, saying what to install, without it.
      - V(nvidia-smi) only runs C(nvidia-smi).
    type: str
    choices: [auto, nvml, nvidia-smi]
    default: auto
  nvidia_smi_path:
    description:
      - Path of C(nvidia-smi). By default it is looked up in E(PATH), C(/usr/bin) and
        C(/usr/local/nvidia/bin).
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
notes:
  - Run it on the GPU host itself (it is a module, not a lookup). It needs no root; NVML
    answers an unprivileged user for everything it reports.
  - Temperature, power and clocks are one reading at the time the module ran.
seealso:
  - name: NVML API reference
    description: The library the facts come from.
    link: https://docs.nvidia.com/deploy/nvml-api/
  - name: nvidia-ml-py on PyPI
    description: The Python binding (module C(pynvml)).
    link: https://pypi.org/project/nvidia-ml-py/
"""

EXAMPLES = r"""
- name: Read the GPUs of the host
  medimg.imaging.gpu_facts:

- name: Stop with a clear message on a GPU node without a working driver
  ansible.builtin.assert:
    that: ansible_facts.gpu_present
    fail_msg: "No usable GPU on {{ inventory_hostname }}: {{ ansible_facts.gpu_reason }}"

- name: Show each GPU
  ansible.builtin.debug:
    msg: >-
      GPU {{ item.index }} {{ item.name }} ({{ item.pci_bus_id }}), compute {{ item.compute_capability }},
      {{ item.memory_used_mib }}/{{ item.memory_total_mib }} MiB, MIG {{ item.mig_mode_current }}
  loop: "{{ ansible_facts.gpus }}"
  loop_control:
    label: "{{ item.uuid }}"

- name: Read through nvidia-smi only, at a path of its own
  medimg.imaging.gpu_facts:
    backend: nvidia-smi
    nvidia_smi_path: /usr/local/nvidia/bin/nvidia-smi
"""

RETURN = r"""
ansible_facts:
  description: The GPU facts.
  returned: always
  type: dict
  contains:
    gpu_present:
      description: Whether at least one GPU could be read.
      type: bool
      sample: true
    gpu_reason:
      description:
        - Why there is no GPU, null when RV(ansible_facts.gpu_present=true).
        - V(nvml_library_not_found) (no C(libnvidia-ml.so.1)), V(driver_not_loaded) (the library
          is there, the kernel module is not; also when NVML answers C(Unknown Error) while
          C(/proc/driver/nvidia/version) is absent, as it does for root in a container), V(no_devices), V(no_permission),
          V(driver_library_version_mismatch) (driver upgraded, not rebooted),
          V(nvml_binding_missing_and_no_nvidia_smi), V(nvidia_smi_not_found),
          V(nvidia_smi_failed), or another NVML error name.
      type: str
      sample: driver_not_loaded
    gpu_reason_detail:
      description: The error message behind RV(ansible_facts.gpu_reason), null when there is none.
      type: str
      sample: Driver Not Loaded
    gpu_source:
      description: Where the facts come from.
      type: str
      choices: [nvml, nvidia-smi, none]
      sample: nvml
    gpu_driver_version:
      description: The NVIDIA driver version.
      type: str
      sample: "550.90.07"
    gpu_cuda_driver_version:
      description: The newest CUDA version the driver supports, as C(major.minor).
      type: str
      sample: "12.4"
    gpu_nvml_version:
      description: The NVML library version (NVML only).
      type: str
      sample: "12.550.90.07"
    gpu_count:
      description: Number of GPUs.
      type: int
      sample: 1
    gpus:
      description:
        - One dict per GPU. Every key is always there; a value the GPU or the source does not
          give is null. Modes are V(enabled), V(disabled) or null.
      type: list
      elements: dict
      sample:
        - index: 0
          name: NVIDIA H100 80GB HBM3
          uuid: GPU-5c3e2d1a-0000-1111-2222-333344445555
          serial: "1650123456789"
          vbios_version: 96.00.74.00.01
          pci_bus_id: "00000000:19:00.0"
          minor_number: 0
          memory_total_mib: 81559
          memory_used_mib: 1
          compute_capability: "9.0"
          mig_mode_current: disabled
          mig_mode_pending: disabled
          mig_devices: []
          ecc_mode_current: enabled
          ecc_mode_pending: enabled
          temperature_c: 31
          fan_speed_pct: null
          power_draw_w: 71.3
          power_limit_w: 700.0
          persistence_mode: enabled
          performance_state: P0
          utilization_gpu_pct: 0
          utilization_memory_pct: 0
          clocks:
            graphics_mhz: 345
            sm_mhz: 345
            memory_mhz: 2619
            video_mhz: 765
            max_graphics_mhz: 1980
            max_sm_mhz: 1980
            max_memory_mhz: 2619
            max_video_mhz: 1545
          errors: {}
      contains:
        index:
          description: NVML index of the GPU.
          type: int
        name:
          description: Product name.
          type: str
        uuid:
          description: GPU UUID (C(GPU-...)).
          type: str
        pci_bus_id:
          description: PCI bus id (C(domain:bus:device.function)).
          type: str
        memory_total_mib:
          description: Total memory in MiB.
          type: int
        memory_used_mib:
          description: Used memory in MiB.
          type: int
        compute_capability:
          description: CUDA compute capability as C(major.minor) (C(9.0) for Hopper).
          type: str
        mig_mode_current:
          description: MIG mode now.
          type: str
        mig_mode_pending:
          description: MIG mode after the next GPU reset.
          type: str
        mig_devices:
          description:
            - MIG devices when MIG is enabled (C(index), C(name), C(uuid), C(gpu_instance_id),
              C(compute_instance_id), C(memory_total_mib), C(memory_used_mib)); the
              nvidia-smi source gives only index, name and UUID.
          type: list
          elements: dict
        ecc_mode_current:
          description: ECC mode now.
          type: str
        ecc_mode_pending:
          description: ECC mode after the next reboot.
          type: str
        temperature_c:
          description: GPU core temperature in degrees Celsius.
          type: int
        power_draw_w:
          description: Power draw in watts.
          type: float
        power_limit_w:
          description: Enforced power limit in watts.
          type: float
        persistence_mode:
          description: Persistence mode.
          type: str
        clocks:
          description:
            - Current and maximum clocks in MHz (C(graphics_mhz), C(sm_mhz), C(memory_mhz),
              C(video_mhz), and C(max_) of each).
          type: dict
        errors:
          description:
            - Fields that could not be read for another reason than "not supported", with the
              NVML error name (for example C(no_permission)). Empty when all went well.
          type: dict
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.medimg.imaging.plugins.module_utils._gpu import (
    empty_facts,
    nvml_facts,
    smi_facts,
)

try:
    import pynvml
except ImportError:
    pynvml = None
    PYNVML_IMPORT_ERROR = traceback.format_exc()
else:
    PYNVML_IMPORT_ERROR = None

SMI_EXTRA_PATHS = ['/usr/bin', '/usr/local/nvidia/bin', '/usr/local/bin']


def find_smi(module):
    path = module.params['nvidia_smi_path']
    if path:
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return module.get_bin_path('nvidia-smi', opt_dirs=SMI_EXTRA_PATHS)


def run_smi(module):
    def run(argv):
        return module.run_command(argv, environ_update={'LC_ALL': 'C'})
    return run


def gather(module):
    backend = module.params['backend']
    if backend in ('auto', 'nvml') and pynvml is not None:
        return nvml_facts(pynvml)
    if backend == 'nvml':
        module.fail_json(
            msg=missing_required_lib('nvidia-ml-py (Python module pynvml) on the managed host',
                                     url='https://pypi.org/project/nvidia-ml-py/'),
            exception=PYNVML_IMPORT_ERROR)
    smi = find_smi(module)
    if smi is None:
        if backend == 'nvidia-smi':
            return empty_facts('none', 'nvidia_smi_not_found',
                               'nvidia-smi was not found%s' % (
                                   ' at %s' % module.params['nvidia_smi_path'] if module.params['nvidia_smi_path'] else ''))
        return empty_facts('none', 'nvml_binding_missing_and_no_nvidia_smi',
                           'Neither the pynvml module (pip install nvidia-ml-py) nor nvidia-smi is on the host')
    return smi_facts(run_smi(module), smi)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type='str', default='auto', choices=['auto', 'nvml', 'nvidia-smi']),
            nvidia_smi_path=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    try:
        facts = gather(module)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='Reading the GPUs of the host failed unexpectedly: %s' % exc,
                         exception=traceback.format_exc())
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == '__main__':
    main()
