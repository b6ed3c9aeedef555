// pybind11 bindings: the C++ facade (gpu_manager) as whisper_vram._core. Results cross as Python
// dicts built from the same JSON the CLI prints (one set of keys for both). The pure-Python layer
// (whisper_vram/__init__.py) gives the guide's method names, keyword names and docstrings.

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>

#include "whisper_vram/error.hpp"
#include "whisper_vram/gpu_manager.hpp"
#include "whisper_vram/json.hpp"

namespace py = pybind11;
using namespace whisper_vram;

namespace {

py::object to_python(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null: return py::none();
        case nlohmann::ordered_json::value_t::boolean: return py::bool_(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer: return py::int_(j.get<std::int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: return py::int_(j.get<std::uint64_t>());
        case nlohmann::ordered_json::value_t::number_float: return py::float_(j.get<double>());
        case nlohmann::ordered_json::value_t::string: return py::str(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            py::list list;
            for (const auto& item : j) list.append(to_python(item));
            return std::move(list);
        }
        case nlohmann::ordered_json::value_t::object: {
            py::dict dict;
            for (const auto& [key, value] : j.items()) dict[py::str(key)] = to_python(value);
            return std::move(dict);
        }
        default: return py::none();
    }
}

std::string py_repr(const py::handle& value) { return py::repr(value).cast<std::string>(); }

// Numbers from Python: validated by the core, so messages are the CLI's. Non-numbers (or bools)
// are usage errors (ValueError) naming the value, not pybind11 TypeErrors.
double segment_from(const py::handle& value) {
    if (py::isinstance<py::bool_>(value) || !(py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value))) {
        throw usage_error("segment duration " + py_repr(value) +
                          " is invalid: must be a finite number of seconds > 0 and at most 86400 (24 h)");
    }
    const double seconds = value.cast<double>();
    validate_segment_seconds(seconds);
    return seconds;
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
        const double d = value.cast<double>();
        if (std::isfinite(d) && d == std::floor(d) && d >= -1e9 && d <= 1e9) {
            validate_batch_size(static_cast<long long>(d));
            return static_cast<int>(d);
        }
    }
    throw bad();
}

double margin_from(const py::handle& value) {
    if (py::isinstance<py::bool_>(value) || !(py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value))) {
        throw usage_error("margin " + py_repr(value) + " is invalid: must be a number from 0 to 10 (0.2 = the guide's 20%)");
    }
    const double margin = value.cast<double>();
    validate_margin(margin);
    return margin;
}

std::string text_from(const py::handle& value, const char* what) {
    if (!py::isinstance<py::str>(value)) throw usage_error(std::string(what) + " " + py_repr(value) + " is invalid: must be a string");
    return value.cast<std::string>();
}

/// The keyword arguments every sizing method shares → an estimate_request.
estimate_request request_from(const py::handle& model_name, const py::handle& segment_duration, const py::handle& batch_size,
                              const py::handle& precision, const py::handle& engine, const py::handle& margin,
                              const py::handle& beam_size, const py::handle& gpu, const py::handle& flash_attention) {
    estimate_request r;
    r.model = text_from(model_name, "model name");
    r.segment_seconds = segment_from(segment_duration);
    r.batch_size = batch_from(batch_size);
    r.precision = text_from(precision, "precision");
    r.engine = engine.is_none() ? "guide" : text_from(engine, "engine");
    r.margin = margin.is_none() ? default_margin : margin_from(margin);
    if (!beam_size.is_none()) {
        if (py::isinstance<py::bool_>(beam_size) || !py::isinstance<py::int_>(beam_size) || beam_size.cast<long long>() < 1 ||
            beam_size.cast<long long>() > 64) {
            throw usage_error("beam size '" + py_repr(beam_size) + "' is invalid: must be an integer from 1 to 64");
        }
        r.beam_size = beam_size.cast<int>();
    }
    if (!gpu.is_none()) r.gpu_name = text_from(gpu, "gpu");
    if (!flash_attention.is_none()) {
        if (!py::isinstance<py::bool_>(flash_attention)) {
            throw usage_error("flash_attention " + py_repr(flash_attention) + " is invalid: must be True, False or None");
        }
        r.flash_attention = flash_attention.cast<bool>();
    }
    return r;
}

/// The C++ facade plus the probe it was made with.
class manager {
public:
    explicit manager(const std::optional<std::string>& simulate) : manager_(make(simulate)) {}

    [[nodiscard]] const gpu_manager& get() const { return manager_; }

private:
    static gpu_manager make(const std::optional<std::string>& simulate) {
        probe_options options = probe_options_from_environment();
        if (simulate) options.simulate = *simulate;
        return gpu_manager(std::shared_ptr<gpu_probe>(make_probe(options)));
    }
    gpu_manager manager_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "whisper_vram C++ core (use the whisper_vram package, not this module directly)";

    static py::exception<gpu_unavailable_error> unavailable(m, "GpuUnavailableError", PyExc_RuntimeError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const usage_error& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const gpu_unavailable_error& e) {
            unavailable(e.what());
        } catch (const whisper_vram::error& e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());
        }
    });

    py::class_<manager>(m, "Manager")
        .def(py::init<const std::optional<std::string>&>(), py::arg("simulate") = py::none())
        .def(
            "calculate_memory_usage",
            [](const manager& self, const py::object& model_name, const py::object& segment_duration, const py::object& batch_size,
               const py::object& precision, const py::object& engine, const py::object& margin, const py::object& beam_size,
               const py::object& gpu, const py::object& flash_attention) {
                return to_python(to_json(self.get().calculate(request_from(model_name, segment_duration, batch_size, precision,
                                                                            engine, margin, beam_size, gpu, flash_attention))));
            },
            py::arg("model_name"), py::arg("segment_duration"), py::arg("batch_size"), py::arg("precision"), py::arg("engine"),
            py::arg("margin"), py::arg("beam_size"), py::arg("gpu"), py::arg("flash_attention"))
        .def("get_gpu_memory_info", [](const manager& self) {
            const gpu_snapshot snapshot = self.get().get_gpu_memory_info();
            if (!snapshot.available()) throw gpu_unavailable_error("no GPU information: " + snapshot.unavailable_reason);
            return to_python(to_json(snapshot));
        });
}
