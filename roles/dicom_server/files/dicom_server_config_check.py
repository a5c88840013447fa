# Managed by medimg.imaging.dicom_server; run as: python3 dicom_server_config_check.py DIR [NAME CANDIDATE].
"""Check an Orthanc configuration folder before Orthanc reads it.

Orthanc accepts JSON with // and /* */ comments, and refuses to start when a
setting appears in two files of its configuration folder.

  dicom_server_config_check.py DIR                 check every *.json file of DIR
  dicom_server_config_check.py DIR NAME CANDIDATE  check DIR as if CANDIDATE were DIR/NAME
"""
import json
import os
import sys


def strip_comments(text):
    out, i, n, in_str = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == '\\' and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith('//', i):
            j = text.find('\n', i)
            i = n if j < 0 else j
            continue
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            if j < 0:
                raise ValueError('unterminated /* comment')
            i = j + 2
            continue
        else:
            out.append(c)
        i += 1
    return ''.join(out)


def load_text(text):
    data = json.loads(strip_comments(text))
    if not isinstance(data, dict):
        raise ValueError('the top level is not a JSON object')
    return data


def load(path):
    with open(path, encoding='utf-8') as handle:
        return load_text(handle.read())


def main(argv):
    if len(argv) not in (2, 4):
        sys.stderr.write(__doc__)
        return 2
    folder = argv[1]
    files = {}
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith('.json') and os.path.isfile(os.path.join(folder, name)):
                files[name] = os.path.join(folder, name)
    if len(argv) == 4:
        files[argv[2]] = argv[3]
    errors, seen = [], {}
    for name, path in sorted(files.items()):
        try:
            data = load(path)
        except (OSError, ValueError) as exc:
            errors.append('%s: not valid Orthanc JSON: %s' % (name, exc))
            continue
        for key in data:
            if key in seen:
                errors.append('setting "%s" is in both %s and %s (Orthanc refuses to start)' % (key, seen[key], name))
            else:
                seen[key] = name
    for error in errors:
        sys.stderr.write('%s: %s\n' % (folder, error))
    if not errors:
        print('%s: %d files, %d settings, no duplicates' % (folder, len(files), len(seen)))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
