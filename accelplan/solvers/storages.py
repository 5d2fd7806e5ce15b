"""Optuna storages for shared and resumable searches, with one write per finished trial.

A search stores its study in memory (no URL), in an RDB (``sqlite:///path.db``, ``postgresql://user@host:port/db``,
any SQLAlchemy URL Optuna takes) or in a journal file (``journal:///path.log``, or a path ending ``.log``;
Optuna's ``JournalStorage`` with ``JournalFileBackend``). Several processes, on one machine or several,
may run one study at the same time (a journal file: processes that share its file system).

Where the time went: Optuna writes every ``suggest_*``, ``set_user_attr`` and ``set_constraint`` of a running
trial as its own committed transaction (a journal: its own locked, fsync'ed append), and reads the trial back
from the storage on each ``set_constraint``. A BERT-base trial suggests about 100 parameters: an SQLite search
spent about three quarters of its time in those ~120 commits per trial (cProfile: ``set_trial_param`` 4.5 s and
``set_constraint`` 1.0 s of 7.2 s in ``optimize``, 23 trials). Here a running trial that this process owns is held
in memory: its parameters and attributes are written in one transaction (one append) just before its state
becomes final, and reads of it are answered from memory. This is the persistence contract of Optuna's own
RDB cache (``optuna.storages._CachedStorage``: a trial's attributes are persistent once its state is written);
what a killed process loses is the running trial's parameters, never a finished trial.

Heartbeats: a trial records one when this process takes it and every ``HEARTBEAT_S`` seconds while it runs; a
search on the study (resumed, or any other worker; at most once per ``HEARTBEAT_S``, before a trial) marks a
running trial whose heartbeat is ``GRACE_S`` old FAIL (``optuna.storages.fail_stale_trials``) and enqueues one
retry of it (``RetryHeartbeatStaleTrialCallback``, ``max_retry=1``): the retry carries the failed trial's number
as its ``failed_trial`` system attribute and is sampled afresh (the dead process held its parameters). Optuna's
journal backend has no heartbeat; :class:`BatchedJournalStorage` records it as the trial's ``heartbeat`` system
attribute (wall-clock seconds: the processes sharing a journal file should share a clock).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (BaseDistribution, check_distribution_compatibility, distribution_to_json,
                                  json_to_distribution)
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.storages.journal._file import BaseJournalFileLock, get_lock_file
from optuna.trial import FrozenTrial, TrialState

from ..errors import AccelplanError, SolveError, need

HEARTBEAT_S = 2  # a running trial's heartbeat [s]
GRACE_S = 6  # a running trial whose heartbeat is older than this belonged to a killed search: it is failed [s]
JOURNAL_SCHEME = "journal:///"


@dataclass
class _Pending:
    """The writes of one running trial this process owns, not yet in the storage."""

    trial: FrozenTrial  # the trial as it will be: the storage's copy with every pending write applied
    stored: frozenset[tuple[bool, str]]  # (system?, key) of the attributes the storage held when it was owned
    params: list[tuple[str, float, BaseDistribution]] = field(default_factory=list)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)


def _copy(trial: FrozenTrial) -> FrozenTrial:
    """A copy whose dictionaries the caller may change (``optuna.Trial`` does) without changing ours."""
    return FrozenTrial(number=trial.number, state=trial.state, value=None, values=trial.values,
                       datetime_start=trial.datetime_start, datetime_complete=trial.datetime_complete,
                       params=dict(trial.params), distributions=dict(trial.distributions),
                       user_attrs=dict(trial.user_attrs), system_attrs=dict(trial.system_attrs),
                       intermediate_values=dict(trial.intermediate_values), trial_id=trial._trial_id)


def _finished(trial: FrozenTrial, state: TrialState, values: Any) -> FrozenTrial:
    """``trial`` (this process's, all its writes applied) in its final state, as a read from the storage gives it
    (attributes through JSON; the completion time within microseconds of the stored one)."""
    done = _copy(trial)
    done.state, done.values, done.datetime_complete = state, None if values is None else list(values), datetime.now()
    done.user_attrs = json.loads(json.dumps(done.user_attrs))
    done.system_attrs = json.loads(json.dumps(done.system_attrs))
    return done


class _Batched:
    """Mixin: a running trial this process owns keeps its writes in memory until its state becomes final; the
    storage it is mixed into writes them with that state (one transaction, or one append)."""

    def _init_batched(self) -> None:
        self._pending: dict[int, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._stale_checked: dict[int, float] = {}  # study -> when this process last looked for stale trials
        self._last_heartbeat: tuple[int, float] = (-1, 0.0)  # the trial this process last wrote a heartbeat of, when

    def _own(self, trial: FrozenTrial) -> None:
        stored = frozenset({(True, k) for k in trial.system_attrs} | {(False, k) for k in trial.user_attrs})
        with self._pending_lock:
            self._pending[trial._trial_id] = _Pending(_copy(trial), stored)
        if self.get_heartbeat_interval():  # at once: Optuna's heartbeat thread starts after the sampler's work, and
            self.record_heartbeat(trial._trial_id)  # a trial killed before its first heartbeat would never go stale

    def _heartbeat_due(self, trial_id: int) -> bool:
        """Whether a heartbeat of ``trial_id`` is worth writing: not when this process wrote one less than half an
        interval ago (Optuna's heartbeat thread begins with one, just after the one :meth:`_own` wrote)."""
        now = time.monotonic()
        with self._pending_lock:
            last, self._last_heartbeat = self._last_heartbeat, (trial_id, now)
        return last[0] != trial_id or now - last[1] >= HEARTBEAT_S / 2

    def _stale_check_due(self, study_id: int) -> bool:
        """Whether to look for stale trials now: Optuna asks before every trial; once a heartbeat interval is
        enough (a dead trial is failed at most ``HEARTBEAT_S`` after ``GRACE_S``)."""
        now = time.monotonic()
        if now - self._stale_checked.get(study_id, -float("inf")) < HEARTBEAT_S:
            return False
        self._stale_checked[study_id] = now
        return True

    def _owned(self, trial_id: int) -> _Pending | None:
        with self._pending_lock:
            return self._pending.get(trial_id)

    def _buffer_param(self, trial_id: int, name: str, internal: float, distribution: BaseDistribution) -> bool:
        pending = self._owned(trial_id)
        if pending is None:
            return False
        pending.params.append((name, internal, distribution))
        pending.trial.params[name] = distribution.to_external_repr(internal)
        pending.trial.distributions[name] = distribution
        return True

    def _buffer_attr(self, trial_id: int, system: bool, key: str, value: Any) -> bool:
        pending = self._owned(trial_id)
        if pending is None:
            return False
        (pending.system_attrs if system else pending.user_attrs)[key] = value
        (pending.trial.system_attrs if system else pending.trial.user_attrs)[key] = value
        return True

    # the storage methods both storages answer alike (``super()``: the Optuna storage after this mixin)
    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._buffer_attr(trial_id, False, key, value):
            super().set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._buffer_attr(trial_id, True, key, value):
            super().set_trial_system_attr(trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        pending = self._owned(trial_id)
        return _copy(pending.trial) if pending is not None else super().get_trial(trial_id)

    def _release(self, trial_id: int, state: TrialState) -> _Pending | None:
        """The owned trial's pending writes when ``state`` is final (it is no longer owned then), else None."""
        if not state.is_finished():
            return None
        with self._pending_lock:
            return self._pending.pop(trial_id, None)


#: per database, the statements each connection runs first so that a commit does not wait for the disk: SQLite
#: in write-ahead-log mode synced at checkpoints, PostgreSQL's asynchronous commit. A process killed at any moment
#: loses no committed trial; a power cut (or a crash of the PostgreSQL server) may lose the last ones.
_FAST_COMMITS = {"sqlite": ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"),
                 "postgresql": ("SET synchronous_commit TO off",)}


def _on_connect(engine: Any, statements: tuple[str, ...]) -> None:
    """Run ``statements`` on each new connection of ``engine`` (the pool reconnects)."""
    import sqlalchemy

    def run(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
        connection.commit()  # a setting made in a transaction rolled back would be undone
    sqlalchemy.event.listen(engine, "connect", run)
    engine.dispose()


class BatchedRDBStorage(_Batched, RDBStorage):
    """Optuna's RDB storage (SQLite, PostgreSQL, ...) writing an owned running trial's parameters and attributes
    in one transaction before its final state (see the module's docstring)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._init_batched()
        if self.engine.name in _FAST_COMMITS:
            _on_connect(self.engine, _FAST_COMMITS[self.engine.name])
        self._checked: set[tuple[int, str]] = set()  # (study, parameter) whose distribution the study agrees with
        self._known: dict[int, FrozenTrial] = {}  # trials whose last read holds while their state does, by id
        self._distributions: dict[str, BaseDistribution] = {}  # parsed distributions, by their stored JSON

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._pending_lock = threading.Lock()

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_pending_lock", None)
        return state

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        trial = super()._create_new_trial(study_id, template_trial)
        if template_trial is None:  # a new RUNNING trial of this process (a template is written whole)
            self._last_heartbeat = (trial._trial_id, time.monotonic())  # written with it
            self._own(trial)
        return trial

    def _get_prepared_new_trial(self, study_id: int, template_trial: FrozenTrial | None, session: Any) -> Any:
        """Optuna's new trial, with its first heartbeat in the same transaction: a process killed at any moment
        leaves no RUNNING trial without one (it would never go stale)."""
        from optuna.storages._rdb import models

        trial = super()._get_prepared_new_trial(study_id, template_trial, session)
        if template_trial is None and self.heartbeat_interval:
            session.add(models.TrialHeartbeatModel(trial_id=trial.trial_id))
        return trial

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        pending = self._release(trial_id, state)
        if pending is not None:
            return self._finish_owned(trial_id, pending, state, values)
        if state == TrialState.RUNNING and self.heartbeat_interval:  # before taking a waiting trial (as above)
            self.record_heartbeat(trial_id)
        ok = super().set_trial_state_values(trial_id, state, values)
        if ok and state == TrialState.RUNNING:  # an enqueued trial this process took
            self._own(super().get_trial(trial_id))
        return ok

    def _finish_owned(self, trial_id: int, pending: _Pending, state: TrialState, values: Any) -> bool:
        """An owned trial's pending writes, values and final state in one transaction (as Optuna's
        ``set_trial_state_values`` writes values and state); its final form is kept for the next read."""
        import sqlalchemy
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        done = _finished(pending.trial, state, values)
        with _create_scoped_session(self.scoped_session) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
            self.check_trial_is_updatable(trial_id, trial.state)
            self._write_pending(session, trial, pending)
            if values:  # a trial this process ran holds no value yet
                session.execute(sqlalchemy.insert(models.TrialValueModel), [
                    dict(zip(("value", "value_type"), models.TrialValueModel.value_to_stored_repr(v)),
                         trial_id=trial_id, objective=i) for i, v in enumerate(values)])
            trial.state, trial.datetime_complete = state, done.datetime_complete
        self._known[trial_id] = done
        return True

    def _set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                         distribution: BaseDistribution, previous_distribution: BaseDistribution | None) -> None:
        if not self._buffer_param(trial_id, param_name, param_value_internal, distribution):
            super()._set_trial_param(trial_id, param_name, param_value_internal, distribution, previous_distribution)
        elif previous_distribution is not None:
            check_distribution_compatibility(previous_distribution, distribution)

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        self._set_trial_param(trial_id, param_name, param_value_internal, distribution, None)

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        pending = self._owned(trial_id)
        return dict(pending.trial.user_attrs) if pending is not None else super().get_trial_user_attrs(trial_id)

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        pending = self._owned(trial_id)
        return dict(pending.trial.system_attrs) if pending is not None else super().get_trial_system_attrs(trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        pending = self._owned(trial_id)
        if pending is None:
            return super().get_trial_param(trial_id, param_name)
        return pending.trial.distributions[param_name].to_internal_repr(pending.trial.params[param_name])

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return super()._get_stale_trial_ids(study_id) if self._stale_check_due(study_id) else []

    def record_heartbeat(self, trial_id: int) -> None:
        if self._heartbeat_due(trial_id):
            super().record_heartbeat(trial_id)

    def _get_trials(self, study_id: int, states: Any, included_trial_ids: set[int],
                    trial_id_greater_than: int) -> list[FrozenTrial]:
        """The trials Optuna's cache asks for (``included_trial_ids``: those it holds unfinished, and every trial
        after ``trial_id_greater_than``), reading in full only those new or whose state changed: one light query
        of ids and states first; an owned trial is answered from memory, an unfinished one seen before in the
        same state is reused (its writes, like ours, come with its final state)."""
        if states is not None:
            return super()._get_trials(study_id, states, included_trial_ids, trial_id_greater_than)
        import sqlalchemy
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        model = models.TrialModel
        held = [i for i in included_trial_ids if i <= trial_id_greater_than]
        with _create_scoped_session(self.scoped_session) as session:
            rows = session.execute(sqlalchemy.select(model.trial_id, model.state).where(
                model.study_id == study_id,
                sqlalchemy.or_(model.trial_id.in_(held), model.trial_id > trial_id_greater_than))).all()
        found: dict[int, FrozenTrial] = {}
        for trial_id, state in rows:
            pending, seen = self._owned(trial_id), self._known.get(trial_id)
            if pending is not None:
                found[trial_id] = _copy(pending.trial)
            elif seen is not None and seen.state == state:
                found[trial_id] = seen
        load = {trial_id for trial_id, _ in rows} - set(found)
        if load:
            for trial in super()._get_trials(study_id, None, load, max(load)):
                found[trial._trial_id] = trial
        self._known = {i: t for i, t in found.items() if not t.state.is_finished()}  # the cache keeps the finished
        return [found[i] for i in sorted(found)]

    def _build_frozen_trial_from_trial_model(self, trial: Any) -> FrozenTrial:
        """Optuna's reading of a stored trial, its distributions parsed once per process (a BERT-base trial has
        ~100 categorical ones, the same in every trial: parsing them was most of reading another worker's trial)."""
        from optuna.storages._rdb import models

        values = None
        if trial.values:
            values = [0.0] * len(trial.values)
            for v in trial.values:
                values[v.objective] = models.TrialValueModel.stored_repr_to_value(v.value, v.value_type)
        params = sorted(trial.params, key=lambda p: p.param_id)
        dists = {p.param_name: self._distribution(p.distribution_json) for p in params}
        return FrozenTrial(
            number=trial.number, state=trial.state, value=None, values=values,
            datetime_start=trial.datetime_start, datetime_complete=trial.datetime_complete,
            params={p.param_name: dists[p.param_name].to_external_repr(p.param_value) for p in params},
            distributions=dists,
            user_attrs={a.key: json.loads(a.value_json) for a in trial.user_attributes},
            system_attrs={a.key: json.loads(a.value_json) for a in trial.system_attributes},
            intermediate_values={v.step: models.TrialIntermediateValueModel.stored_repr_to_intermediate_value(
                v.intermediate_value, v.intermediate_value_type) for v in trial.intermediate_values},
            trial_id=trial.trial_id)

    def _distribution(self, text: str) -> BaseDistribution:
        if text not in self._distributions:
            self._distributions[text] = json_to_distribution(text)
        return self._distributions[text]

    def _write_pending(self, session: Any, trial: Any, pending: _Pending) -> None:
        """Insert the owned trial's parameters and attributes (replacing those the storage held under a key)."""
        import sqlalchemy
        from optuna.storages._rdb import models

        trial_id = trial.trial_id
        self._check_distributions(session, trial.study_id, pending.params)
        if pending.params:
            session.execute(sqlalchemy.insert(models.TrialParamModel), [
                {"trial_id": trial_id, "param_name": name, "param_value": value,
                 "distribution_json": distribution_to_json(dist)} for name, value, dist in pending.params])
        for system, model, attrs in ((False, models.TrialUserAttributeModel, pending.user_attrs),
                                     (True, models.TrialSystemAttributeModel, pending.system_attrs)):
            replaced = [k for k in attrs if (system, k) in pending.stored]
            if replaced:
                session.execute(sqlalchemy.delete(model).where(model.trial_id == trial_id, model.key.in_(replaced)))
            if attrs:
                session.execute(sqlalchemy.insert(model), [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)}
                                                           for k, v in attrs.items()])

    def _check_distributions(self, session: Any, study_id: int,
                             params: list[tuple[str, float, BaseDistribution]]) -> None:
        """Each parameter's distribution agrees with the study's (Optuna's check), asked once per process."""
        import sqlalchemy
        from optuna.storages._rdb import models

        new = {name: dist for name, _, dist in params if (study_id, name) not in self._checked}
        if not new:
            return
        rows = session.execute(
            sqlalchemy.select(models.TrialParamModel.param_name,
                              sqlalchemy.func.min(models.TrialParamModel.distribution_json))
            .join(models.TrialModel).where(models.TrialModel.study_id == study_id,
                                           models.TrialParamModel.param_name.in_(list(new)))
            .group_by(models.TrialParamModel.param_name)).all()
        for name, known in rows:
            check_distribution_compatibility(json_to_distribution(known), new[name])
        self._checked |= {(study_id, name) for name in new}


class BatchedJournalStorage(_Batched, JournalStorage, BaseHeartbeat):
    """Optuna's journal storage writing an owned running trial's parameters and attributes in one append before
    its final state, with heartbeats (a ``heartbeat`` system attribute, wall-clock seconds; a running trial
    without one, whose process died before writing it, is stale ``GRACE_S`` after its start)."""

    def __init__(self, backend: Any, heartbeat_interval: int = HEARTBEAT_S, grace_period: int = GRACE_S,
                 heartbeat_stale_trial_callback: Any = None) -> None:
        super().__init__(backend)
        self._init_batched()
        self._heartbeat_interval = heartbeat_interval
        self._grace_period = grace_period
        self._stale_callback = heartbeat_stale_trial_callback

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_pending_lock", None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._pending_lock = threading.Lock()

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        if template_trial is None:
            self._own(super().get_trial(trial_id))
        return trial_id

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        pending = self._release(trial_id, state)
        if pending is not None:
            self._append_final(trial_id, pending, state, values)
            return True
        ok = super().set_trial_state_values(trial_id, state, values)
        if ok and state == TrialState.RUNNING:
            self._own(super().get_trial(trial_id))
        return ok

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        if not self._buffer_param(trial_id, param_name, param_value_internal, distribution):
            super().set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def _append_final(self, trial_id: int, pending: _Pending, state: TrialState, values: Any) -> None:
        """The owned trial's parameters, attributes, values and final state as one append of journal records (the
        records Optuna's ``JournalStorage`` writes one by one)."""
        from datetime import timezone

        from optuna.storages.journal._storage import JournalOperation

        def log(op: JournalOperation, **fields: Any) -> dict[str, Any]:
            return {"op_code": op, "worker_id": self._replay_result.worker_id, "trial_id": trial_id, **fields}
        logs = [log(JournalOperation.SET_TRIAL_PARAM, param_name=name, param_value_internal=value,
                    distribution=distribution_to_json(dist)) for name, value, dist in pending.params]
        logs += [log(JournalOperation.SET_TRIAL_USER_ATTR, user_attr={k: v}) for k, v in pending.user_attrs.items()]
        logs += [log(JournalOperation.SET_TRIAL_SYSTEM_ATTR, system_attr={k: v})
                 for k, v in pending.system_attrs.items()]
        logs.append(log(JournalOperation.SET_TRIAL_STATE_VALUES, state=state, values=values,
                        datetime_complete=datetime.now(tz=timezone.utc).isoformat(timespec="microseconds")))
        with self._thread_lock:
            self._backend.append_logs(logs)
            self._sync_with_backend()
            if self._replay_result.get_trial(trial_id).state != state:  # failed meanwhile by another process
                raise optuna.exceptions.UpdateFinishedTrialError(
                    f"trial {pending.trial.number} was finished by another process (its heartbeat went stale)")

    # heartbeats (Optuna's BaseHeartbeat)
    def record_heartbeat(self, trial_id: int) -> None:
        if self._heartbeat_due(trial_id):
            super().set_trial_system_attr(trial_id, "heartbeat", time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        if not self._stale_check_due(study_id):
            return []
        now, today = time.time(), datetime.now()  # the heartbeat in epoch seconds; datetime_start local, naive

        def silent_s(trial: FrozenTrial) -> float:
            if "heartbeat" in trial.system_attrs:
                return now - trial.system_attrs["heartbeat"]
            return (today - trial.datetime_start).total_seconds() if trial.datetime_start else 0.0
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running if silent_s(t) > self._grace_period]

    def get_heartbeat_interval(self) -> int | None:
        return self._heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Any:
        return self._stale_callback


class JournalFile(JournalFileBackend):
    """Optuna's journal file, its appends not fsync'ed: a process killed at any moment loses no appended record
    (the kernel holds it); a power cut may lose the last ones (as SQLite's write-ahead log here)."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        with get_lock_file(self._lock), open(self._file_path, "ab") as f:
            f.write(text.encode("utf-8"))


class FlockLock(BaseJournalFileLock):
    """The journal file's lock as an ``flock`` on ``<file>.lock``: the kernel releases it when its process dies, so
    a search killed while appending (``kill -9``) does not hold the other processes back (Optuna's link-file locks
    stay until their 30 s grace period)."""

    def __init__(self, path: str) -> None:
        self._path = path + ".lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __getstate__(self) -> dict[str, Any]:
        return {"_path": self._path, "_fd": None}


def journal_path(url: str) -> Path | None:
    """The journal file a storage URL names, else None: ``journal:///search.log`` (relative, as in SQLite's URLs),
    ``journal:////abs/search.log``, or a plain path ending ``.log``."""
    if url.startswith(JOURNAL_SCHEME):
        return Path(url[len(JOURNAL_SCHEME):])
    if "://" not in url and url.endswith(".log"):
        return Path(url)
    return None


def open_storage(url: str | None, wait_s: float | None = None) -> optuna.storages.BaseStorage | None:
    """In memory (None), a journal file or an RDB, with heartbeats and one retry of a killed search's trial; a
    database server that does not answer within ``wait_s`` (the run's time left) is a :class:`SolveError`."""
    if url is None:
        return None
    path = journal_path(url)
    with warnings.catch_warnings():  # heartbeats and the retry callback are experimental in Optuna 5, stable in use
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
        if path is not None:
            if not path.parent.is_dir():
                raise SolveError(f"journal storage {url!r}: folder {path.parent} does not exist")
            return BatchedJournalStorage(JournalFile(str(path), FlockLock(str(path))),
                                         heartbeat_stale_trial_callback=retry)
        return _rdb(url, retry, wait_s)


#: how long a database server may take to accept a connection and answer, at most and at least [s] (libpq counts
#: whole seconds, from 2; psycopg may take one more): half the time left of a run, so the refusal comes before its limit
CONNECT_WAIT_S = (2, 30)


def connect_args(url: str, wait_s: float | None) -> dict[str, Any]:
    """SQLAlchemy ``connect_args`` that bound a connection's wait: PostgreSQL's ``connect_timeout`` (the connection and
    the server's first answer, the authentication exchange) and TCP keepalives."""
    low, high = CONNECT_WAIT_S
    seconds = high if wait_s is None else max(low, min(high, int(wait_s * 0.5)))
    if url.startswith("postgresql"):
        return {"connect_timeout": seconds, "keepalives": 1, "keepalives_idle": seconds, "keepalives_interval": 1,
                "keepalives_count": 3}
    return {}


def redacted(url: str) -> str:
    """``url`` without its password."""
    try:
        import sqlalchemy

        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _rdb(url: str, retry: Any, wait_s: float | None = None, attempts: int = 5) -> BatchedRDBStorage:
    """The RDB storage at ``url``; processes that open a new database at once race to create Optuna's tables
    (the loser's CREATE fails on a duplicate): it opens again, finding them. A server that does not answer within
    ``wait_s`` is a :class:`SolveError` naming it (issue 25, item 12: one that accepted and never replied held a
    run for 132 s under --time-limit 5)."""
    import sqlalchemy

    args = connect_args(url, wait_s)
    if url.startswith("postgresql") and "+" not in url.split("://")[0]:
        need("psycopg", f"Optuna storage {redacted(url)} (PostgreSQL through psycopg)")
    for attempt in range(attempts):
        try:
            return BatchedRDBStorage(url, engine_kwargs={"connect_args": args} if args else None,
                                     heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                     heartbeat_stale_trial_callback=retry)
        except sqlalchemy.exc.OperationalError as exc:
            if "timeout" not in str(exc).lower() and "timed out" not in str(exc).lower():
                raise SolveError(f"Optuna storage {redacted(url)}: the database refused or dropped the connection: "
                                 f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}") from None
            raise SolveError(f"Optuna storage {redacted(url)}: no answer from the database server within "
                             f"{args.get('connect_timeout', args.get('timeout'))} s (bounded by the run's time limit); "
                             "is it a PostgreSQL server, and running?") from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark FAIL (and retry once) the running trials of ``study`` whose heartbeat is ``GRACE_S`` old: Optuna does
    it before each trial; a search that joins a study does it first, so it cleans up even when it runs none."""
    with warnings.catch_warnings():  # experimental in Optuna 5, stable in use; a no-op without heartbeats
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def create_or_load_study(storage: str | None, study_name: str | None, sampler: optuna.samplers.BaseSampler,
                         directions: list[str], wait_s: float | None = None) -> tuple[optuna.Study, bool]:
    """Create the study, or load it when ``storage`` holds one of that name; whether this call created it. A storage
    Optuna cannot open is a :class:`SolveError`, and so is a server that does not answer within ``wait_s``."""
    try:
        where = open_storage(storage, wait_s)
        try:
            created = optuna.create_study(storage=where, sampler=sampler, study_name=study_name, directions=directions)
            return created, True
        except optuna.exceptions.DuplicatedStudyError:
            return optuna.load_study(study_name=study_name, storage=where, sampler=sampler), False
    except AccelplanError:
        raise
    except Exception as exc:  # a storage URL Optuna cannot open
        raise SolveError(f"cannot open Optuna storage {redacted(storage or '')!r}: {exc}") from None
