namespace Inference.Engine.Tests;

internal static class Vectors
{
    public static double Norm(float[] vector) => Math.Sqrt(Dot(vector, vector));

    public static double Cosine(float[] a, float[] b) => Dot(a, b) / (Norm(a) * Norm(b));

    public static double MaxAbsoluteDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
    }

    private static double Dot(float[] a, float[] b) => a.Zip(b, (x, y) => (double)x * y).Sum();
}
