# Sourced by pinned_ab.sh and callgrind_e2e.sh: what their modes on-304,
# on-stale and off-empty need. Expects MODES, ROUTE and DOC to be set.

# The tag with its last character before the closing quote changed: as long
# as the current one, and not it.
stale() {
  local tag=$1 other=A
  case $tag in
    \"?*\" | W/\"?*\") ;;
    *) echo "no tag to make a stale one of: '$tag'" >&2; return 1 ;;
  esac
  [ "${tag: -2:1}" = A ] && other=B
  printf '%s%s"' "${tag:0:${#tag}-2}" "$other"
}

# The If-None-Match a mode sends to the URL: the ETag of a first GET (on-304),
# that tag made stale (on-stale), or nothing (every other mode).
revalidating_tag() {
  local mode=$1 url=$2 tag
  case $mode in
    on-304 | on-stale) ;;
    *) return 0 ;;
  esac
  tag=$(curl -s -D - -o /dev/null "$url" | awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')
  if [ "$mode" = on-stale ]; then stale "$tag"; else printf '%s' "$tag"; fi
}

# off-empty is the bare counterpart of /json/1k only.
if [[ " $MODES " == *" off-empty "* ]] && [ "$ROUTE/$DOC" != json/1k ]; then
  echo "off-empty serves /json/0, the same fields as /json/1k but for Content-Length;" \
    "it has no counterpart for /$ROUTE/$DOC" >&2
  exit 2
fi
