from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StartBuildRequest(_message.Message):
    __slots__ = ("build_id", "template_id", "spec_json", "base_template_id", "base_build_id")
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    BASE_TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    build_id: str
    template_id: str
    spec_json: str
    base_template_id: str
    base_build_id: str
    def __init__(self, build_id: _Optional[str] = ..., template_id: _Optional[str] = ..., spec_json: _Optional[str] = ..., base_template_id: _Optional[str] = ..., base_build_id: _Optional[str] = ...) -> None: ...

class GetBuildRequest(_message.Message):
    __slots__ = ("build_id", "logs_offset", "limit")
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    LOGS_OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    build_id: str
    logs_offset: int
    limit: int
    def __init__(self, build_id: _Optional[str] = ..., logs_offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class BuildRef(_message.Message):
    __slots__ = ("build_id",)
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    build_id: str
    def __init__(self, build_id: _Optional[str] = ...) -> None: ...

class BuildLogEntry(_message.Message):
    __slots__ = ("timestamp", "level", "message", "step")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    timestamp: str
    level: str
    message: str
    step: str
    def __init__(self, timestamp: _Optional[str] = ..., level: _Optional[str] = ..., message: _Optional[str] = ..., step: _Optional[str] = ...) -> None: ...

class BuildInfo(_message.Message):
    __slots__ = ("build_id", "template_id", "status", "reason", "reason_step", "logs", "logs_total", "image_id", "rootfs_bytes", "user", "workdir")
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REASON_STEP_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    LOGS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ROOTFS_BYTES_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    build_id: str
    template_id: str
    status: str
    reason: str
    reason_step: str
    logs: _containers.RepeatedCompositeFieldContainer[BuildLogEntry]
    logs_total: int
    image_id: str
    rootfs_bytes: int
    user: str
    workdir: str
    def __init__(self, build_id: _Optional[str] = ..., template_id: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., reason_step: _Optional[str] = ..., logs: _Optional[_Iterable[_Union[BuildLogEntry, _Mapping]]] = ..., logs_total: _Optional[int] = ..., image_id: _Optional[str] = ..., rootfs_bytes: _Optional[int] = ..., user: _Optional[str] = ..., workdir: _Optional[str] = ...) -> None: ...
