package rpcserver

import "infrakit.aliyun/internal/testutil"

var equal = testutil.Equal
