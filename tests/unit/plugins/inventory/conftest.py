# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make the collection loadable by name (inventory_loader.get('medimg.imaging...')) in unit tests."""

from __future__ import annotations

from ansible.plugins.loader import init_plugin_loader

init_plugin_loader()
