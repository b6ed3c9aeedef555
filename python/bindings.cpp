// pybind11 bindings: the C++ facade (gpu_manager) as whisper_vram._core. Results cross as Python
// dicts built from the same JSON the CLI prints (one set of keys for both). The pure-Python layer
// (whisper_vram/__init__.py) gives the guide's method names, keyword names and docstrings; the
// signatures of this module are in whisper_vram/_core.pyi. The library's warnings become Python
// warnings (RuntimeWarning) through the manager's warning_sink.

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/engines.hpp"
#include "whisper_vram/engines/registry.hpp"
#include "whisper_vram/facade/calibration_file.hpp"
#include "whisper_vram/facade/environment.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/planner.hpp"
#include "whisper_vram/planner/slurm.hpp"
#include "whisper_vram/sched/scheduler.hpp"
#include "whisper_vram/version.hpp"

namespace py = pybind11;
using namespace whisper_vram;

namespace {

/// A C++ string as a Python str: bytes that are not UTF-8 (from the environment: paths,
/// CUDA_VISIBLE_DEVICES) come out as "\\xNN" text (backslashreplace) instead of raising
/// UnicodeDecodeError.
py::str text_to_python(const std::string& text) {
    PyObject* object = PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "backslashreplace");
    if (object == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(object);
}

py::object to_python(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null:
            return py::none();
        case nlohmann::ordered_json::value_t::boolean:
            return py::bool_(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer:
            return py::int_(j.get<std::int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned:
            return py::int_(j.get<std::uint64_t>());
        case nlohmann::ordered_json::value_t::number_float:
            return py::float_(j.get<double>());
        case nlohmann::ordered_json::value_t::string:
            return text_to_python(j.get_ref<const std::string&>());
        case nlohmann::ordered_json::value_t::array: {
            py::list list;
            for (const auto& item : j) list.append(to_python(item));
            return list;
        }
        case nlohmann::ordered_json::value_t::object: {
            py::dict dict;
            for (const auto& [key, value] : j.items()) dict[text_to_python(key)] = to_python(value);
            return dict;
        }
        default:
            return py::none();
    }
}

std::string py_repr(const py::handle& value) { return py::repr(value).cast<std::string>(); }

/// An int or float as a double; nullopt for other types, bools, and ints beyond a double's range
/// (10**400: value.cast<double>() raised pybind11's RuntimeError "Unable to cast").
std::optional<double> double_from(const py::handle& value) {
    if (py::isinstance<py::bool_>(value) || !(py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value))) {
        return std::nullopt;
    }
    const double d = PyFloat_AsDouble(value.ptr());
    if (d == -1.0 && PyErr_Occurred() != nullptr) {
        PyErr_Clear();
        return std::nullopt;
    }
    return d;
}

/// A number from Python, checked by the core's @p validate so messages are the CLI's. A non-number
/// (or a bool) is a usage error (ValueError) naming the value — "<what> <repr> is invalid: <allowed>"
/// — not a pybind11 TypeError.
double number_from(const py::handle& value, const char* what, const char* allowed, void (*validate)(double)) {
    const auto number = double_from(value);
    if (!number) throw usage_error(std::string(what) + " " + py_repr(value) + " is invalid: " + allowed);
    if (validate != nullptr) validate(*number);
    return *number;
}

double segment_from(const py::handle& value) {
    return number_from(value, "segment duration", "must be a finite number of seconds > 0 and at most 86400 (24 h)",
                       validate_segment_seconds);
}

int batch_from(const py::handle& value) {
    const auto bad = [&] {
        return usage_error("batch size '" + py_repr(value) + "' is invalid: must be an integer from 1 to 4096");
    };
    if (py::isinstance<py::bool_>(value)) throw bad();
    if (py::isinstance<py::int_>(value)) {
        long long batch = 0;
        try {
            batch = value.cast<long long>();
        } catch (const py::cast_error&) {
            throw bad();
        }
        validate_batch_size(batch);
        return static_cast<int>(batch);
    }
    if (py::isinstance<py::float_>(value)) {
        const auto d = value.cast<double>();
        if (std::isfinite(d) && d == std::floor(d) && d >= -1e9 && d <= 1e9) {
            validate_batch_size(static_cast<long long>(d));
            return static_cast<int>(d);
        }
    }
    throw bad();
}

double margin_from(const py::handle& value) {
    return number_from(value, "margin", "must be a number from 0 to 10 (0.2 = the guide's 20%)", validate_margin);
}

bool is_blank(const std::string& text) { return text.find_first_not_of(" \t") == std::string::npos; }

/// True or False only: pybind11's bool caster would take None, 1.5 or nan as a flag.
bool flag_from(const py::handle& value, const char* what) {
    if (!py::isinstance<py::bool_>(value)) {
        throw usage_error(std::string(what) + " " + py_repr(value) + " is invalid: must be True or False");
    }
    return value.cast<bool>();
}

std::string text_from(const py::handle& value, const char* what) {
    if (!py::isinstance<py::str>(value)) {
        throw usage_error(std::string(what) + " " + py_repr(value) + " is invalid: must be a string");
    }
    return value.cast<std::string>();
}

/// What a request takes when the caller does not say: the manager's engine (GpuManager(engine=...),
/// else WHISPER_VRAM_ENGINE, else the guide) and CUDA_MODULE_LOADING as read when it was made.
struct request_defaults {
    std::string engine = "guide";
    std::optional<std::string> cuda_module_loading;
};

/// The options every sizing method shares, passed from the Python layer as a dict with the keys
/// model_name, segment_duration, batch_size, precision, engine, margin, beam_size, gpu,
/// flash_attention, cuda_module_loading, language, align, diarize, staged (missing keys take the guide's
/// defaults) → an estimate_request.
/// None is "the engine's default" only for engine (@p d's), beam_size, gpu, flash_attention,
/// cuda_module_loading (@p d's for engine estimates, else not stated), language and align; for the
/// others it is a wrong type (ValueError), not a silent default (model_name=None used to size "medium").
estimate_request request_from(const py::dict& o, const request_defaults& d = {}) {
    const auto get = [&](const char* key) -> py::object {
        return o.contains(key) ? py::reinterpret_borrow<py::object>(o[key]) : py::none();
    };
    estimate_request r;
    if (o.contains("model_name")) r.model = text_from(get("model_name"), "model name");
    if (o.contains("segment_duration")) r.segment_seconds = segment_from(get("segment_duration"));
    if (o.contains("batch_size")) r.batch_size = batch_from(get("batch_size"));
    if (o.contains("precision")) r.precision = text_from(get("precision"), "precision");
    r.engine = d.engine;
    if (const auto v = get("engine"); !v.is_none()) r.engine = text_from(v, "engine");
    if (is_blank(r.engine)) (void)canonical_engine(r.engine);  // '' is no engine: "unknown engine ''", not the guide
    if (o.contains("margin")) r.margin = margin_from(get("margin"));
    if (const auto v = get("beam_size"); !v.is_none()) {
        // Range-check without cast<long long>(): 10**30 would raise pybind11's RuntimeError.
        int overflow = 0;
        const long long beam = py::isinstance<py::int_>(v) ? PyLong_AsLongLongAndOverflow(v.ptr(), &overflow) : 0;
        if (py::isinstance<py::bool_>(v) || !py::isinstance<py::int_>(v) || overflow != 0 || beam < 1 || beam > 64) {
            throw usage_error("beam size '" + py_repr(v) + "' is invalid: must be an integer from 1 to 64");
        }
        r.beam_size = static_cast<int>(beam);
    }
    if (const auto v = get("gpu"); !v.is_none()) r.gpu_name = text_from(v, "gpu");
    if (const auto v = get("flash_attention"); !v.is_none()) {
        if (!py::isinstance<py::bool_>(v)) {
            throw usage_error("flash_attention " + py_repr(v) + " is invalid: must be True, False or None");
        }
        r.flash_attention = v.cast<bool>();
    }
    if (const auto v = get("cuda_module_loading"); !v.is_none()) {
        r.cuda_module_loading = parse_cuda_module_loading(text_from(v, "cuda_module_loading"), "cuda_module_loading");
    } else if (d.cuda_module_loading && !is_blank(*d.cuda_module_loading) && !is_guide_engine(r.engine)) {
        // The guide's formula has no runtime input: the variable is CUDA's, not an error there.
        r.cuda_module_loading = parse_cuda_module_loading(*d.cuda_module_loading, "CUDA_MODULE_LOADING");
    }
    if (const auto v = get("language"); !v.is_none()) r.language = text_from(v, "language");
    if (const auto v = get("align"); !v.is_none()) r.align = flag_from(v, "align");
    if (const auto v = get("diarize"); !v.is_none()) r.diarize = flag_from(v, "diarize");
    if (const auto v = get("staged"); !v.is_none()) r.staged = flag_from(v, "staged");
    return r;
}

/// Memory in GiB (the guide's unit) → bytes, rounded down.
std::uint64_t memory_from(const py::handle& value) {
    return gib_to_bytes_floor(number_from(value, "available memory", "must be a number of GiB >= 0", nullptr));
}

/// The memory a planning method plans on: @p available (GiB or a size) when given, else the
/// usable memory of the catalog card the request names (gpu=), as the CLI's --gpu does.
std::uint64_t memory_or_card(const py::handle& available, const estimate_request& request) {
    if (!available.is_none()) return memory_from(available);
    if (request.gpu_name) return planning_memory_bytes(find_gpu_model(*request.gpu_name));
    throw usage_error(
        "available_memory is None: give the memory in GiB (e.g. 8), or gpu= a card to plan on its usable memory "
        "(e.g. gpu=\"T4\")");
}

/// GPU ids from Python (ints or strings; None = every visible GPU) → the strings select_gpus takes.
std::vector<std::string> gpu_ids_from(const py::handle& value) {
    std::vector<std::string> ids;
    if (value.is_none()) return ids;
    if (py::isinstance<py::str>(value) || !py::isinstance<py::iterable>(value)) {
        throw usage_error("gpu_ids " + py_repr(value) +
                          " is invalid: must be a list of GPU ids, e.g. [0] or ['GPU-8a3f']");
    }
    for (const auto& item : py::iter(value)) {
        if (py::isinstance<py::bool_>(item) || !(py::isinstance<py::int_>(item) || py::isinstance<py::str>(item))) {
            throw usage_error("GPU id " + py_repr(item) +
                              " is invalid: ids are CUDA indices (int), UUIDs or PCI bus ids (str)");
        }
        ids.push_back(py::str(item).cast<std::string>());
    }
    return ids;
}

std::vector<std::string> names_from(const py::handle& value) {
    std::vector<std::string> names;
    if (py::isinstance<py::str>(value)) {
        names.push_back(value.cast<std::string>());
        return names;
    }
    if (!py::isinstance<py::iterable>(value)) {
        throw usage_error("gpus " + py_repr(value) +
                          " is invalid: must be a GPU name or a list of them, e.g. 'RTX 3090' or "
                          "['T4', 'RTX 3090']");
    }
    for (const auto& item : py::iter(value)) names.push_back(text_from(item, "GPU name"));
    return names;
}

/// A granted reservation, owned by Python: released by release(), or when garbage-collected.
/// active asks the ledger: a reservation dropped by release_all_memory(), `whisper-vram
/// release-all --force` or `tasks release` (another process) makes it false.
class py_lease {
public:
    py_lease(lease held, gpu_manager owner) : lease_(std::move(held)), owner_(std::move(owner)) {}
    void release() { lease_.release(); }
    [[nodiscard]] bool active() {
        if (!lease_.active()) return false;
        bool listed = true;
        try {
            const py::gil_scoped_release unlocked;  // the ledger's lock may be held by another process
            const auto records = owner_.get_scheduler().reservations();
            listed = std::any_of(records.begin(), records.end(),
                                 [&](const reservation_record& r) { return r.id == lease_.info().id; });
        } catch (const std::exception&) {  // the ledger cannot be read now: say what we hold
            return true;
        }
        if (!listed) lease_.release();  // dropped by someone else: nothing left to release (ids are unique)
        return listed;
    }
    /// whisper_vram.LeaseInfo.
    [[nodiscard]] py::dict info() const {
        using namespace pybind11::literals;
        const lease_info& i = lease_.info();
        return py::dict("id"_a = i.id, "gpu_uuid"_a = text_to_python(i.gpu_uuid), "gpu_index"_a = i.gpu_index,
                        "cuda_index"_a = i.cuda_index, "gpu_name"_a = text_to_python(i.gpu_name), "bytes"_a = i.bytes,
                        "gib"_a = bytes_to_gib(i.bytes), "model"_a = text_to_python(i.model));
    }

private:
    lease lease_;
    gpu_manager owner_;  // a copy shares the scheduler (and its ledger) with the manager
};

/// The library's warnings as Python warnings: warnings.warn(message, RuntimeWarning), pointing at
/// the caller of the whisper_vram method. The library may call it from a thread that released the
/// GIL (reserve waits unlocked), so it takes the GIL. It never throws: under `-W error` the warning's
/// exception is reported as unraisable, since the caller may be a lease's destructor.
warning_sink python_warnings() {
    return [](const std::string& message) {
        if (Py_IsInitialized() == 0) return;  // a lease released at interpreter exit
        const py::gil_scoped_acquire gil;
        if (PyErr_WarnEx(PyExc_RuntimeWarning, message.c_str(), 2) != 0) PyErr_WriteUnraisable(nullptr);
    };
}

/// The C++ facade for one GpuManager: the environment is read once, when it is created (on the
/// Python object's first use); GpuManager(simulate=...) replaces WHISPER_VRAM_SIMULATE and
/// GpuManager(engine=...) WHISPER_VRAM_ENGINE (the default engine of every method), and
/// GpuManager(calibration=...) WHISPER_VRAM_CALIBRATION (the profile every engine estimate applies);
/// GpuManager(shard_granule=...) is the GPU memory of one Slurm shard (default 1GiB).
class manager {
public:
    manager(const std::optional<std::string>& simulate, const std::optional<std::string>& engine,
            const std::optional<std::string>& calibration = std::nullopt,
            const std::optional<std::string>& shard_granule = std::nullopt)
        : env_(read(simulate)),
          manager_(std::shared_ptr<gpu_probe>(make_probe(probe_options_from(env_))), options(env_, shard_granule)),
          calibration_(find_calibration_profile(env_, calibration)) {
        // A given engine is checked now; WHISPER_VRAM_ENGINE when a request uses it (methods that
        // take no engine, such as get_gpu_memory_info, do not fail on it).
        if (engine) engine_ = canonical_engine(*engine);
    }

    [[nodiscard]] const gpu_manager& get() const { return manager_; }
    /// The environment the manager was made from (CUDA_VISIBLE_DEVICES numbers the GPUs).
    [[nodiscard]] const environment& env() const { return env_; }
    /// The request of @p options with this manager's defaults.
    [[nodiscard]] estimate_request request(const py::dict& options) const {
        request_defaults defaults;
        const bool given =
            options.contains("engine") && !py::reinterpret_borrow<py::object>(options["engine"]).is_none();
        if (!given) defaults.engine = engine_ ? *engine_ : default_engine(env_.engine);
        defaults.cuda_module_loading = env_.cuda_module_loading;
        estimate_request r = request_from(options, defaults);
        r.calibration = calibration_;
        return r;
    }

private:
    /// What the environment says, with GpuManager(shard_granule=...) as the Slurm shard's size (the
    /// environment does not say it; the CLI's `run --shard-granule`), parsed as the CLI parses it.
    static manager_options options(const environment& env, const std::optional<std::string>& shard_granule) {
        manager_options o = manager_options_from(env, python_warnings());
        if (shard_granule) o.shard_granule_bytes = parse_shard_granule(*shard_granule, "shard_granule");
        return o;
    }
    static environment read(const std::optional<std::string>& simulate) {
        environment env = read_environment();
        if (env.simulate && env.simulate->empty()) env.simulate.reset();  // WHISPER_VRAM_SIMULATE= is unset
        if (simulate) env.simulate = *simulate;
        return env;
    }
    environment env_;
    gpu_manager manager_;
    std::optional<std::string> engine_;  ///< GpuManager(engine=...), canonical
    /// GpuManager(calibration=...), else WHISPER_VRAM_CALIBRATION, else the state folder's; null = none
    std::shared_ptr<const calibration_profile> calibration_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "whisper_vram C++ core (use the whisper_vram package, not this module directly)";
    m.attr("__version__") = version_string;  // from project(VERSION), as the CLI's --version
    // For the tests: a message through the same sink the manager gets, from this thread or from a
    // thread that does not hold the GIL (as a waiting reserve does).
    m.def(
        "_emit_warning",
        [](const std::string& message, bool from_thread) {
            const warning_sink sink = python_warnings();
            if (!from_thread) return sink(message);
            const py::gil_scoped_release unlocked;
            std::thread([&] { sink(message); }).join();
        },
        py::arg("message"), py::arg("from_thread") = false);

    static py::exception<gpu_unavailable_error> unavailable(m, "GpuUnavailableError", PyExc_RuntimeError);
    // pybind11 takes a plain function pointer void(std::exception_ptr): the parameter must be by value.
    py::register_exception_translator([](std::exception_ptr p) {  // NOLINT(performance-unnecessary-value-param)
        try {
            if (p) std::rethrow_exception(p);
        } catch (const usage_error& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const state_error& e) {  // state folder / ledger I/O: an OSError, as Python's own
            PyErr_SetString(PyExc_OSError, e.what());
        } catch (const gpu_unavailable_error& e) {
            unavailable(e.what());
        } catch (const whisper_vram::error& e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());
        }
    });

    py::class_<manager>(m, "Manager")
        // simulate as an object: 5 or ['x'] are ValueErrors naming the value, not pybind11 TypeErrors.
        .def(py::init([](const py::object& simulate, const py::object& engine, const py::object& calibration,
                         const py::object& shard_granule) {
                 const auto text = [](const py::object& value, const char* what) {
                     return value.is_none() ? std::nullopt : std::optional<std::string>(text_from(value, what));
                 };
                 return manager(text(simulate, "simulate"), text(engine, "engine"), text(calibration, "calibration"),
                                text(shard_granule, "shard_granule"));
             }),
             py::arg("simulate") = py::none(), py::arg("engine") = py::none(), py::arg("calibration") = py::none(),
             py::arg("shard_granule") = py::none())
        .def("calculate",
             [](const manager& self, const py::dict& options) {
                 return to_python(to_json(self.get().calculate(self.request(options))));
             })
        .def("gpu_memory_info",
             [](const manager& self) {
                 const gpu_snapshot snapshot = self.get().get_gpu_memory_info();
                 if (!snapshot.available()) {
                     throw gpu_unavailable_error("no GPU information: " + snapshot.unavailable_reason);
                 }
                 // CUDA's numbering, as gpu_ids everywhere: the GPUs a CUDA program sees, in its
                 // order; `index` is the CUDA index, `nvml_index` NVML's (as check's gpus).
                 nlohmann::ordered_json j = to_json(snapshot);
                 nlohmann::ordered_json gpus = nlohmann::ordered_json::array();
                 for (const auto& v : visible_gpus(snapshot, self.env().cuda_visible_devices)) {
                     nlohmann::ordered_json g{{"index", v.cuda_index}, {"nvml_index", v.device.index}};
                     const nlohmann::ordered_json fields = to_json(v.device);
                     for (const auto& [key, value] : fields.items()) {
                         if (key != "index") g[key] = value;
                     }
                     gpus.push_back(std::move(g));
                 }
                 j["gpus"] = std::move(gpus);
                 return to_python(j);
             })
        .def("cuda_debug_info",
             [](const manager& self) { return to_python(to_json(self.get().get_cuda_debug_info())); })
        .def("check",
             [](const manager& self, const py::dict& options, const py::object& gpu_ids,
                const py::object& ignore_reservations) {
                 return to_python(to_json(
                     self.get().check_gpu_memory_sufficient(self.request(options), gpu_ids_from(gpu_ids),
                                                            flag_from(ignore_reservations, "ignore_reservations"))));
             })
        .def("best_model",
             [](const manager& self, const py::object& available, const py::dict& options,
                const py::object& english_only_flag) {
                 const bool english_only = flag_from(english_only_flag, "english_only");
                 const estimate_request request = self.request(options);
                 return to_python(to_json(
                     self.get().assign_optimal_model(memory_or_card(available, request), request, english_only)));
             })
        .def(
            "solve",
            [](const manager& self, const std::string& quantity, const py::dict& options, const py::object& available) {
                const estimate_request request = self.request(options);
                if (quantity == "min_memory") return to_python(to_json(self.get().solve_min_memory(request)));
                const std::uint64_t bytes = memory_or_card(available, request);
                if (quantity == "max_segment") return to_python(to_json(self.get().solve_max_segment(request, bytes)));
                if (quantity == "max_batch") return to_python(to_json(self.get().solve_max_batch(request, bytes)));
                if (quantity == "max_concurrent") {
                    return to_python(to_json(self.get().solve_max_concurrent(request, bytes)));
                }
                throw usage_error("unknown quantity '" + quantity +
                                  "': accepted: max_segment, max_batch, max_concurrent, min_memory");
            })
        .def("recommend",
             [](const manager& self, const py::object& gpus, const py::dict& options,
                const py::object& english_only_flag, const py::object& ignore_reservations) {
                 const bool english_only = flag_from(english_only_flag, "english_only");
                 const bool ignore = flag_from(ignore_reservations, "ignore_reservations");
                 const estimate_request request = self.request(options);
                 if (gpus.is_none()) return to_python(to_json(self.get().recommend(request, english_only, ignore)));
                 const std::vector<std::string> names = names_from(gpus);
                 return to_python(
                     to_json(self.get().recommend(std::span<const std::string>(names), request, english_only)));
             })
        .def("presets",
             [](const manager& self) {
                 nlohmann::ordered_json list = nlohmann::ordered_json::array();
                 for (const auto& preset : self.get().presets()) list.push_back(to_json(preset));
                 return to_python(list);
             })
        .def("can_run_concurrent_task",
             [](const manager& self, const py::object& model_name, const py::object& current_tasks) {
                 // current_tasks as in the guide: [{'model': 'medium'}, ...] (or plain model names).
                 std::vector<std::string> models;
                 for (const auto& task : py::iter(current_tasks)) {
                     if (py::isinstance<py::dict>(task)) {
                         const auto dict = py::reinterpret_borrow<py::dict>(task);
                         if (!dict.contains("model")) {
                             throw usage_error("current task " + py_repr(task) + " has no 'model' key");
                         }
                         models.push_back(text_from(dict["model"], "task model"));
                     } else {
                         models.push_back(text_from(task, "task model"));
                     }
                 }
                 return to_python(
                     to_json(self.get().can_run_concurrent_task(text_from(model_name, "model name"), models)));
             })
        .def("reserve",
             [](const manager& self, const py::dict& options, const py::object& gpu_ids, const py::object& timeout,
                const py::object& policy) {
                 reserve_options o;
                 o.request = self.request(options);
                 std::string ids;
                 for (const auto& id : gpu_ids_from(gpu_ids)) ids += (ids.empty() ? "" : ",") + id;
                 o.gpu_ids = ids;
                 if (!timeout.is_none()) {
                     const auto seconds = double_from(timeout);
                     if (!seconds || !std::isfinite(*seconds) || *seconds < 0) {
                         throw usage_error("timeout " + py_repr(timeout) +
                                           " is invalid: must be a number of seconds >= 0, or None to wait");
                     }
                     o.timeout_seconds = *seconds;  // the facade refuses more than 366 days
                 }
                 o.policy = parse_placement_policy(text_from(policy, "policy"));
                 // Ctrl-C while waiting: the scheduler polls this between checks (with the GIL
                 // released); PyErr_CheckSignals runs Python's handlers, and KeyboardInterrupt (or
                 // whatever a handler raised) is raised once reserve() returns, cancelled.
                 bool interrupted = false;
                 o.cancelled = [&interrupted] {
                     const py::gil_scoped_acquire gil;
                     if (!interrupted && PyErr_CheckSignals() != 0) interrupted = true;
                     return interrupted;
                 };
                 reserve_result result;
                 {
                     // Waiting can take long: let other Python threads run meanwhile.
                     py::gil_scoped_release unlocked;
                     result = self.get().reserve(o);
                 }
                 if (interrupted) throw py::error_already_set();
                 py::object held = py::none();
                 if (result.granted()) held = py::cast(py_lease(std::move(result.granted_lease), self.get()));
                 return py::make_tuple(to_python(to_json(result)), held);
             })
        .def("release_all_memory",
             [](const manager& self) { return to_python(to_json(self.get().release_all_memory())); })
        .def("register_release_hook",
             [](const manager& self, const std::string& name, const std::function<void()>& hook) {
                 self.get().register_release_hook(name, hook);
             });

    py::class_<py_lease>(m, "Lease")
        .def("release", &py_lease::release)
        .def_property_readonly("active", &py_lease::active)
        .def_property_readonly("info", &py_lease::info);
}
