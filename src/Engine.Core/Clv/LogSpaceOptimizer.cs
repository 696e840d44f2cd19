using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.Optimization;

namespace Engine.Core.Clv;

/// <summary>
/// Maximises a log-likelihood over positive parameters by Nelder-Mead (MathNet.Numerics) on their logarithms, so
/// every step stays in the valid region. Restarted from its own optimum until the value stops improving: a single
/// simplex run can stall on the flat ridges these likelihoods have.
/// </summary>
internal static class LogSpaceOptimizer
{
    private const int Restarts = 8;

    public static (double[] Point, double Value)? Maximize(Func<double[], double> logLikelihood, double[] start)
    {
        var objective = ObjectiveFunction.Value(v =>
        {
            var value = logLikelihood(v.ToArray());
            return double.IsFinite(value) ? -value : double.MaxValue;
        });
        var point = Vector<double>.Build.DenseOfArray(start);
        var best = double.PositiveInfinity;
        for (var i = 0; i < Restarts; i++)
        {
            MinimizationResult result;
            try
            {
                result = new NelderMeadSimplex(1e-12, 20_000).FindMinimum(objective, point);
            }
            catch (MaximumIterationsException)
            {
                return null;
            }
            var improved = best - result.FunctionInfoAtMinimum.Value;
            point = result.MinimizingPoint;
            best = Math.Min(best, result.FunctionInfoAtMinimum.Value);
            if (improved < 1e-10)
            {
                break;
            }
        }
        return double.IsFinite(best) && best < double.MaxValue ? (point.ToArray(), -best) : null;
    }
}
