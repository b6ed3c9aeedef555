// pybind11 bindings: the C++ facade (gpu_manager) as whisper_vram._core. Results cross as Python
// dicts built from the same JSON the CLI prints (one set of keys for both). The pure-Python layer
// (whisper_vram/__init__.py) gives the guide's method names, keyword names and docstrings; the
// signatures of this module are in whisper_vram/_core.pyi. The library's warnings become Python
// warnings (RuntimeWarning) through the manager's warning_sink.

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/engines.hpp"
#include "whisper_vram/facade/environment.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/planner.hpp"
#include "whisper_vram/sched/scheduler.hpp"
#include "whisper_vram/version.hpp"

namespace py = pybind11;
using namespace whisper_vram;

namespace {

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
            return py::str(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            py::list list;
            for (const auto& item : j) list.append(to_python(item));
            return list;
        }
        case nlohmann::ordered_json::value_t::object: {
            py::dict dict;
            for (const auto& [key, value] : j.items()) dict[py::str(key)] = to_python(value);
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

/// The options every sizing method shares, passed from the Python layer as a dict with the keys
/// model_name, segment_duration, batch_size, precision, engine, margin, beam_size, gpu,
/// flash_attention (missing keys take the guide's defaults) → an estimate_request.
/// None is "the engine's default" only for beam_size, gpu and flash_attention; for the others it is
/// a wrong type (ValueError), not a silent default (model_name=None used to size "medium").
estimate_request request_from(const py::dict& o) {
    const auto get = [&](const char* key) -> py::object {
        return o.contains(key) ? py::reinterpret_borrow<py::object>(o[key]) : py::none();
    };
    estimate_request r;
    if (o.contains("model_name")) r.model = text_from(get("model_name"), "model name");
    if (o.contains("segment_duration")) r.segment_seconds = segment_from(get("segment_duration"));
    if (o.contains("batch_size")) r.batch_size = batch_from(get("batch_size"));
    if (o.contains("precision")) r.precision = text_from(get("precision"), "precision");
    if (o.contains("engine")) r.engine = text_from(get("engine"), "engine");
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
    // The runtime and WhisperX inputs (the CLI's --cuda-module-loading, --language, --no-align,
    // --diarize): None is "not stated" / the engine's default; validated by the estimators.
    if (const auto v = get("cuda_module_loading"); !v.is_none()) {
        r.cuda_module_loading = text_from(v, "cuda_module_loading");
    }
    if (const auto v = get("language"); !v.is_none()) r.language = text_from(v, "language");
    if (const auto v = get("align"); !v.is_none()) r.align = flag_from(v, "align");
    if (const auto v = get("diarize"); !v.is_none()) r.diarize = flag_from(v, "diarize");
    return r;
}

/// Memory in GiB (the guide's unit) → bytes, rounded down.
std::uint64_t memory_from(const py::handle& value) {
    return gib_to_bytes_floor(number_from(value, "available memory", "must be a number of GiB >= 0", nullptr));
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
class py_lease {
public:
    explicit py_lease(lease held) : lease_(std::move(held)) {}
    void release() { lease_.release(); }
    [[nodiscard]] bool active() const { return lease_.active(); }
    /// whisper_vram.LeaseInfo.
    [[nodiscard]] py::dict info() const {
        using namespace pybind11::literals;
        const lease_info& i = lease_.info();
        return py::dict("id"_a = i.id, "gpu_uuid"_a = i.gpu_uuid, "gpu_index"_a = i.gpu_index,
                        "cuda_index"_a = i.cuda_index, "gpu_name"_a = i.gpu_name, "bytes"_a = i.bytes,
                        "gib"_a = bytes_to_gib(i.bytes), "model"_a = i.model);
    }

private:
    lease lease_;
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
/// Python object's first use); GpuManager(simulate=...) replaces WHISPER_VRAM_SIMULATE.
class manager {
public:
    explicit manager(const std::optional<std::string>& simulate) : manager_(make(simulate)) {}

    [[nodiscard]] const gpu_manager& get() const { return manager_; }

private:
    static gpu_manager make(const std::optional<std::string>& simulate) {
        environment env = read_environment();
        if (env.simulate && env.simulate->empty()) env.simulate.reset();  // WHISPER_VRAM_SIMULATE= is unset
        if (simulate) env.simulate = *simulate;
        return gpu_manager(env, python_warnings());
    }
    gpu_manager manager_;
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
        .def(py::init([](const py::object& simulate) {
                 return manager(simulate.is_none() ? std::nullopt
                                                   : std::optional<std::string>(text_from(simulate, "simulate")));
             }),
             py::arg("simulate") = py::none())
        .def("calculate",
             [](const manager& self, const py::dict& options) {
                 return to_python(to_json(self.get().calculate(request_from(options))));
             })
        .def("gpu_memory_info",
             [](const manager& self) {
                 const gpu_snapshot snapshot = self.get().get_gpu_memory_info();
                 if (!snapshot.available()) {
                     throw gpu_unavailable_error("no GPU information: " + snapshot.unavailable_reason);
                 }
                 return to_python(to_json(snapshot));
             })
        .def("cuda_debug_info",
             [](const manager& self) { return to_python(to_json(self.get().get_cuda_debug_info())); })
        .def("check",
             [](const manager& self, const py::dict& options, const py::object& gpu_ids,
                const py::object& ignore_reservations) {
                 return to_python(to_json(
                     self.get().check_gpu_memory_sufficient(request_from(options), gpu_ids_from(gpu_ids),
                                                            flag_from(ignore_reservations, "ignore_reservations"))));
             })
        .def("best_model",
             [](const manager& self, const py::object& available, const py::dict& options,
                const py::object& english_only_flag) {
                 const bool english_only = flag_from(english_only_flag, "english_only");
                 return to_python(to_json(
                     self.get().assign_optimal_model(memory_from(available), request_from(options), english_only)));
             })
        .def(
            "solve",
            [](const manager& self, const std::string& quantity, const py::dict& options, const py::object& available) {
                const estimate_request request = request_from(options);
                if (quantity == "min_memory") return to_python(to_json(self.get().solve_min_memory(request)));
                const std::uint64_t bytes = memory_from(available);
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
                 const estimate_request request = request_from(options);
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
                 o.request = request_from(options);
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
                 reserve_result result;
                 {
                     // Waiting can take long: let other Python threads run meanwhile.
                     py::gil_scoped_release unlocked;
                     result = self.get().reserve(o);
                 }
                 py::object held = py::none();
                 if (result.granted()) held = py::cast(py_lease(std::move(result.granted_lease)));
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
