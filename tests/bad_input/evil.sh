#!/bin/sh
touch MARKER
echo 'apiVersion: v1
kind: ConfigMap
metadata: {name: pwned}'
