"""Benchmark medimg.imaging.dicom_store against dcmtk storescu and pynetdicom's storescu.

A script run by hand (as root, in the project's virtual environment), not a test:

    export MEDIMG_VENV=/work/main/.venv; . scripts/lib.sh && activate
    python3 benchmarks/dicom_store_bench.py [--instances 500] [--keep]

It re-runs itself inside a private network namespace (peers bind every address), generates
two synthetic 16-bit CT studies (N x 512x512 and N x 64x64, no patient data), starts dcmtk
storescp (TCP_NODELAY=1, max PDU 128 KiB, one process per association) and sends each study
with:
  * dicom_store through ansible-playbook (wall time of the whole playbook, and the module's
    own send time from its result),
  * dcmtk storescu (/usr/bin/storescu, TCP_NODELAY=1, one association),
  * pynetdicom's storescu app (python -m pynetdicom storescu, one association).
Then it starts Orthanc (TCP_NODELAY=1), sends each study with dicom_store (mode=missing) and
times the idempotent re-run with everything present. It prints one table.
"""

from __future__ import absolute_import, division, print_function

import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GEN = os.path.join(ROOT, 'tests', 'integration', 'targets', 'setup_dicom_peers', 'gen_study.py')

PLAYBOOK = """---
- name: Benchmark dicom_store
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Send
      medimg.imaging.dicom_store:
        host: 127.0.0.1
        port: {port}
        called_ae_title: {aet}
        calling_ae_title: ANSIBLE
        src: ["{src}"]
        mode: {mode}
        parallel: {parallel}
        return_instances: none
      register: bench

    - name: Result
      ansible.builtin.copy:
        content: "{{{{ bench | to_json }}}}"
        dest: "{result}"
        mode: "0600"
"""


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        sock = socket.socket()
        sock.settimeout(0.2)
        if sock.connect_ex(('127.0.0.1', port)) == 0:
            sock.close()
            return
        sock.close()
        time.sleep(0.1)
    raise RuntimeError('nothing listens on port %d' % port)


def start(cmd, log, env=None):
    full_env = dict(os.environ, TCP_NODELAY='1')
    full_env.update(env or {})
    return subprocess.Popen(cmd, stdout=open(log, 'w'), stderr=subprocess.STDOUT, env=full_env)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_playbook(work, port, aet, src, mode, parallel):
    path = os.path.join(work, 'bench.yml')
    with open(path, 'w') as fp:
        fp.write(PLAYBOOK.format(port=port, aet=aet, src=src, mode=mode, parallel=parallel,
                                 result=os.path.join(work, 'result.json')))
    start_time = time.time()
    out = subprocess.run(
        ['ansible-playbook', '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable, path],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    wall = time.time() - start_time
    if out.returncode != 0:
        raise RuntimeError('ansible-playbook failed:\n%s' % out.stdout[-3000:])
    with open(os.path.join(work, 'result.json')) as fp:
        result = json.load(fp)
    os.unlink(os.path.join(work, 'result.json'))
    return wall, result


def timed(cmd, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    start_time = time.time()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=full_env, check=False)
    return time.time() - start_time, out


def count_files(folder):
    return sum(len(files) for _r, _d, files in os.walk(folder))


def orthanc_config(work, dport, hport):
    conf = os.path.join(work, 'orthanc', 'config')
    storage = os.path.join(work, 'orthanc', 'storage')
    os.makedirs(conf)
    os.makedirs(storage)
    with open(os.path.join(conf, 'orthanc.json'), 'w') as fp:
        json.dump({
            'Name': 'bench', 'StorageDirectory': storage, 'IndexDirectory': storage,
            'DicomAet': 'ORTHANC', 'DicomPort': dport, 'HttpPort': hport, 'RemoteAccessAllowed': False,
            'AuthenticationEnabled': False, 'DicomCheckCalledAet': True,
            'DicomModalities': {'ansible': ['ANSIBLE', '127.0.0.1', 104]}, 'Plugins': [],
        }, fp)
    return conf


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--instances', type=int, default=500)
    parser.add_argument('--parallel', type=int, default=2, help='dicom_store parallel associations (its default is 2)')
    parser.add_argument('--keep', action='store_true', help='keep the work folder')
    args = parser.parse_args()

    if not os.environ.get('MEDIMG_IN_NETNS'):
        ns = 'medimg-bench-%d' % os.getpid()
        subprocess.check_call(['ip', 'netns', 'add', ns])
        try:
            subprocess.check_call(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
            env = dict(os.environ, MEDIMG_IN_NETNS=ns)
            return subprocess.call(['ip', 'netns', 'exec', ns, sys.executable] + sys.argv, env=env)
        finally:
            subprocess.call(['ip', 'netns', 'del', ns])

    work = tempfile.mkdtemp(prefix='medimg-bench.')
    rows = []
    procs = []
    try:
        studies = {}
        for size in (512, 64):
            folder = os.path.join(work, 'ct%d' % size)
            t0 = time.time()
            subprocess.check_call([sys.executable, GEN, folder, '--series', '1', '--instances', str(args.instances),
                                   '--rows', str(size), '--cols', str(size)], stdout=subprocess.DEVNULL)
            mb = sum(os.path.getsize(p) for p in glob.glob(os.path.join(folder, '*'))) / 1e6
            print('generated %d x %dx%d (%.0f MB) in %.1fs' % (args.instances, size, size, mb, time.time() - t0))
            studies[size] = folder

        results = {}
        for size, folder in studies.items():
            label = '%dx%d' % (size, size)
            for sender in ('dicom_store', 'dcmtk storescu', 'pynetdicom storescu'):
                out_dir = os.path.join(work, 'scp-%d-%s' % (size, sender.replace(' ', '_')))
                os.makedirs(out_dir)
                scp = start(['/usr/bin/storescp', '--fork', '--max-pdu', '131072', '--aetitle', 'STORESCP',
                             '--output-directory', out_dir, '11112'], out_dir + '.log')
                procs.append(scp)
                wait_port(11112)
                if sender == 'dicom_store':
                    wall, res = run_playbook(work, 11112, 'STORESCP', folder, 'always', args.parallel)
                    seconds, own = res['send_seconds'], res['elapsed_seconds']
                    ok = res['counts']['sent']
                    extra = 'playbook wall %.2fs, module elapsed %.2fs' % (wall, own)
                elif sender == 'dcmtk storescu':
                    files = sorted(glob.glob(os.path.join(folder, '*.dcm')))
                    seconds, out = timed(['/usr/bin/storescu', '-aec', 'STORESCP', '-aet', 'BENCH', '--max-pdu', '131072',
                                          '127.0.0.1', '11112'] + files, env={'TCP_NODELAY': '1'})
                    ok, wall, extra = None, seconds, 'rc %d' % out.returncode
                else:
                    seconds, out = timed([sys.executable, '-m', 'pynetdicom', 'storescu', '-aec', 'STORESCP',
                                          '--max-pdu', '131072', '127.0.0.1', '11112', folder, '-r'])
                    ok, wall, extra = None, seconds, 'rc %d' % out.returncode
                time.sleep(0.5)
                stop(scp)
                procs.remove(scp)
                received = count_files(out_dir)
                results[(size, sender)] = dict(seconds=seconds, wall=wall, received=received, ok=ok, extra=extra)
                rows.append((label, sender, seconds, args.instances / seconds, received, extra))
                shutil.rmtree(out_dir)

        # Idempotent re-run against Orthanc.
        conf = orthanc_config(work, 4242, 8042)
        orthanc = start(['/usr/sbin/Orthanc', '--logdir=%s' % os.path.join(work, 'orthanc'), conf], os.path.join(work, 'orthanc.log'))
        procs.append(orthanc)
        wait_port(8042)
        wait_port(4242)
        rerun = []
        for size, folder in studies.items():
            wall1, first = run_playbook(work, 4242, 'ORTHANC', folder, 'missing', args.parallel)
            wall2, second = run_playbook(work, 4242, 'ORTHANC', folder, 'missing', args.parallel)
            rerun.append((size, wall1, first, wall2, second))

        print()
        print('| study | sender | send s | instances/s | received | notes |')
        print('|---|---|---:|---:|---:|---|')
        for label, sender, seconds, rate, received, extra in rows:
            print('| %s | %s | %.2f | %.0f | %d | %s |' % (label, sender, seconds, rate, received, extra))
        print()
        print('| study | dicom_store / dcmtk storescu | dicom_store / pynetdicom storescu | target |')
        print('|---|---:|---:|---|')
        for size in studies:
            ds_rate = args.instances / results[(size, 'dicom_store')]['seconds']
            dc_rate = args.instances / results[(size, 'dcmtk storescu')]['seconds']
            py_rate = args.instances / results[(size, 'pynetdicom storescu')]['seconds']
            ds_wall = args.instances / results[(size, 'dicom_store')]['wall']
            target = '>= 1.0x dcmtk' if size == 512 else '>= 0.5x dcmtk, >= 3x pynetdicom'
            print('| %dx%d | %.2fx (%.2fx with ansible-playbook start-up) | %.2fx (%.2fx) | %s |' % (
                size, size, ds_rate / dc_rate, ds_wall / dc_rate, ds_rate / py_rate, ds_wall / py_rate, target))
        print()
        print('| study (Orthanc) | first send: module s (playbook s) | re-run, all present: module s (playbook s) | re-run / first | sent on re-run | target |')
        print('|---|---:|---:|---:|---:|---|')
        for size, wall1, first, wall2, second in rerun:
            print('| %dx%d | %.2f (%.2f) | %.3f (%.2f) | %.1f%% (%.1f%% by playbook) | %d | <= 5%% |' % (
                size, size, first['elapsed_seconds'], wall1, second['elapsed_seconds'], wall2,
                100.0 * second['elapsed_seconds'] / first['elapsed_seconds'], 100.0 * wall2 / wall1,
                second['counts']['sent']))
        ok = all(r[4] == args.instances for r in rows if r[1] == 'dicom_store') and \
            all(r[4]['counts']['sent'] == 0 and not r[4]['changed'] for r in rerun)
        print()
        print('storescp got every instance from dicom_store and every re-run sent nothing: %s' % ok)
        short = ['%s %s: %d of %d' % (r[1], r[0], r[4], args.instances) for r in rows if r[4] != args.instances]
        if short:
            print('senders that did not deliver everything (their exit status was 0): %s' % '; '.join(short))
        return 0 if ok else 1
    finally:
        for proc in procs:
            stop(proc)
        if args.keep:
            print('work folder kept: %s' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
